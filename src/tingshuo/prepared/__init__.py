"""Prepared texts (文稿): a room's scripts, agenda and slides."""

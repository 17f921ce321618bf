"""Chinese learning (说): pronunciation and tone assessment of a reading against a prompt."""

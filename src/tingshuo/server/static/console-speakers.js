// Organizer console: the room's voices (filled in by the speakers work).
"use strict";

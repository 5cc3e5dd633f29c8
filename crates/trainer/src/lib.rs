//! chorus-trainer (skeleton; filled in by its issue).

//! chorus-sdk (skeleton; filled in by its issue).

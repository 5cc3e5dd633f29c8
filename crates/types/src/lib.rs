//! chorus-types (skeleton; filled in by its issue).

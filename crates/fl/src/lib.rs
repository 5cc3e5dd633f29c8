//! chorus-fl (skeleton; filled in by its issue).

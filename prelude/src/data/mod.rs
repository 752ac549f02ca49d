//! (filled in by the data issue)

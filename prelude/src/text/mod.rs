//! (filled in by the text issue)

//! (filled in by the models issue)

//! Reading a line from the person running the notebook (Jupyter's `input_request`).

/// Asks the user for a line of text, showing `prompt`. Under the tuna kernel the front end
/// shows an input box; in a terminal the line is read from stdin.
pub fn input(prompt: &str) -> String {
    evcxr_input::get_string(prompt)
}

/// Like [`input`], but the front end hides what is typed.
pub fn password(prompt: &str) -> String {
    evcxr_input::get_password(prompt)
}

//! Reading a line from the person running the notebook (Jupyter's `input_request`).

/// Asks the user for a line of text, showing `prompt`. Under the tuna kernel the front end
/// shows an input box; in a terminal the line is read from stdin.
pub fn input(prompt: &str) -> String {
    evcxr_input::get_string(&encode_prompt(prompt))
}

/// Like [`input`], but the front end hides what is typed.
pub fn password(prompt: &str) -> String {
    evcxr_input::get_password(&encode_prompt(prompt))
}

/// evcxr reads the prompt as the text between the first and second `:` of its request line,
/// so a prompt such as "Your name: " would lose its colon. The kernel decodes `%3A` and `%25`.
fn encode_prompt(prompt: &str) -> String {
    prompt.replace('%', "%25").replace(':', "%3A")
}

#[cfg(test)]
mod tests {
    #[test]
    fn prompts_have_no_colon_left() {
        assert_eq!(super::encode_prompt("a: 50%:"), "a%3A 50%25%3A");
    }
}

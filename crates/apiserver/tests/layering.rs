//! The API server's layering: handlers reach the store only through the registry.

use std::path::Path;

/// Words by which code would reach the key-value store itself.
const STORE_ACCESS: [&str; 5] = ["backend", "dyn Store", "Store::", ".store", "store()"];

#[test]
fn no_handler_touches_the_store() {
    let handlers = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/handlers");
    let mut checked = 0;
    for entry in std::fs::read_dir(&handlers).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in STORE_ACCESS {
                assert!(
                    !code.contains(word),
                    "{}:{}: `{word}`: handlers go through registry::Storage: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "read {checked} handler files");
}

//! Load: `ferrokube server` started under a soft limit of 1,024 open files (the common
//! default) holds 2,000 idle client connections while another client keeps creating and
//! reading objects, each over a new connection: every request succeeds, because the server
//! raises its soft limit to the hard one at start (without that, accepts fail with "Too many
//! open files" from about the thousandth connection on).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use support::Server;

const IDLE: usize = 2_000;
const SOFT_LIMIT: libc::rlim_t = 1_024;

fn open_file_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one struct passed to it.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit
}

/// This test process's own soft limit raised to the hard one, so that it can hold its side of
/// the idle connections.
fn raise_own_limit() {
    let mut limit = open_file_limit();
    assert!(
        limit.rlim_max >= (IDLE as libc::rlim_t) * 2 + 512,
        "the hard limit of open files ({}) is too low for this test",
        limit.rlim_max
    );
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit reads the one struct passed to it.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// One request over a fresh connection; the status line's code.
fn request(address: &str, method: &str, path: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        // Far beyond the milliseconds an answer takes, and far below the 32 s after which the
        // server's header-read timeout would free descriptors by closing the idle connections.
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reply = String::new();
    if let Err(err) = stream.read_to_string(&mut reply) {
        panic!("{method} {path}: no answer ({err}); the server stopped accepting?");
    }
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: not an HTTP answer: {reply:?}"))
}

#[test]
fn two_thousand_idle_connections_under_a_soft_limit_of_1024() {
    raise_own_limit();
    let temp = tempfile::tempdir().unwrap();
    let server =
        Server::start_prepared(temp.path(), vec!["--disable-agent".into()], 0, |command| {
            let hard = open_file_limit().rlim_max;
            // SAFETY: the closure runs in the child before exec and only calls setrlimit.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: SOFT_LIMIT,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        });
    let address = server.address.clone();
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(&address).expect("an idle connection"))
        .collect();
    for i in 0..100 {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}"}},"data":{{"i":"{i}"}}}}"#
        );
        let path = "/api/v1/namespaces/default/configmaps";
        assert_eq!(request(&address, "POST", path, &body), 201, "create {i}");
        assert_eq!(
            request(&address, "GET", &format!("{path}/cm-{i}"), ""),
            200,
            "get {i}"
        );
    }
    drop(idle);
}

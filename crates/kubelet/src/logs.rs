//! Container logs as `kubectl logs` asks for them, pure: which run's log to read (the current
//! one, or with `previous` the one before), and the text of a CRI log file
//! (`<RFC 3339 time> <stream> <P|F> <text>` records, P for a partial line) with or without
//! timestamps, since a time, the last N lines, at most N bytes.
//!
//! Example: the records `2026-01-01T00:00:00.1Z stdout P hel`, `2026-01-01T00:00:00.2Z stdout
//! F lo` render as `hello\n`, or with timestamps as
//! `2026-01-01T00:00:00.1Z hel2026-01-01T00:00:00.2Z lo\n` (as upstream's kubelet).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::pod::plan as pod_plan;
use crate::runtime::ContainerInfo;

/// What `kubectl logs` asked for (the kubelet's `containerLogs` query).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub since: Option<Timestamp>,
    pub limit_bytes: Option<usize>,
}

/// Why no log can be read, with upstream's message (the HTTP status is 400 or 404).
#[derive(Debug, PartialEq, Eq)]
pub enum LogError {
    NotFound(String),
    BadRequest(String),
}

/// A boolean query parameter as upstream reads one: anything but `false` or `0`, in any
/// case, is true (the Python client sends `True`).
fn is_true(value: &str) -> bool {
    !value.eq_ignore_ascii_case("false") && value != "0"
}

impl LogOptions {
    /// Reads the query of `/containerLogs/...`; `now` turns `sinceSeconds` into a time.
    pub fn from_query(query: &[(String, String)], now: Timestamp) -> Result<LogOptions, LogError> {
        let mut options = LogOptions::default();
        for (key, value) in query {
            let number = || {
                value
                    .parse::<i64>()
                    .map_err(|_| LogError::BadRequest(format!("invalid value {value:?} for {key}")))
            };
            match key.as_str() {
                "follow" => options.follow = is_true(value),
                "previous" => options.previous = is_true(value),
                "timestamps" => options.timestamps = is_true(value),
                "tailLines" => options.tail_lines = Some(number()?.max(0) as usize),
                "limitBytes" => options.limit_bytes = Some(number()?.max(1) as usize),
                "sinceSeconds" => {
                    options.since = Some(now - jiff::SignedDuration::from_secs(number()?.max(0)))
                }
                "sinceTime" => {
                    let time = value.parse::<Timestamp>().map_err(|e| {
                        LogError::BadRequest(format!("invalid value {value:?} for sinceTime: {e}"))
                    })?;
                    options.since = Some(time);
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// The container's waiting reason in the pod's reported status, if it has one.
pub(crate) fn waiting_reason(pod: &Pod, container: &str) -> String {
    let status = pod.status.as_ref();
    status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .find(|s| s.name == container)
        .and_then(|s| s.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .unwrap_or_else(|| "ContainerCreating".into())
}

/// The run whose log is read: the newest one; with `previous`, the last terminated one before
/// the current run (the newest run itself while it waits to be restarted).
pub fn pick_run<'a>(
    pod: &Pod,
    runs: &'a [ContainerInfo],
    container: &str,
    previous: bool,
) -> Result<&'a ContainerInfo, LogError> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let known = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .any(|c| c.name == container);
    if !known {
        return Err(LogError::BadRequest(format!(
            "container {container} is not valid for pod {pod_name}"
        )));
    }
    let latest = pod_plan::latest(runs, container);
    if !previous {
        return latest.ok_or_else(|| {
            LogError::BadRequest(format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: {}",
                waiting_reason(pod, container)
            ))
        });
    }
    let not_found = || {
        LogError::BadRequest(format!(
            "previous terminated container {container:?} in pod {pod_name:?} not found"
        ))
    };
    let latest = latest.ok_or_else(not_found)?;
    if pod_plan::will_restart(pod, latest) {
        return Ok(latest);
    }
    runs.iter()
        .find(|r| r.name == container && r.attempt + 1 == latest.attempt)
        .ok_or_else(not_found)
}

/// One record of a CRI log file.
#[derive(Debug, PartialEq, Eq)]
struct Record<'a> {
    time: &'a str,
    partial: bool,
    text: &'a str,
}

fn parse_record(line: &str) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    Some(Record {
        time,
        partial: tag.split(':').next() == Some("P"),
        text: parts.next().unwrap_or(""),
    })
}

/// Renders the complete records at the start of `data`; returns the text and how many bytes
/// of `data` it used (up to the last newline: a record still being written is left).
/// `tail_lines` and `since` apply to whole lines (a run of partial records and their end).
pub fn render(data: &str, options: &LogOptions) -> (String, usize) {
    let used = data.rfind('\n').map_or(0, |i| i + 1);
    let mut lines: Vec<Vec<Record<'_>>> = Vec::new();
    let mut current = Vec::new();
    for record in data[..used].lines().filter_map(parse_record) {
        let partial = record.partial;
        current.push(record);
        if !partial {
            lines.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if let Some(since) = options.since {
        lines.retain(|line| {
            line[0]
                .time
                .parse::<Timestamp>()
                .is_ok_and(|time| time >= since)
        });
    }
    let skip = options
        .tail_lines
        .map_or(0, |n| lines.len().saturating_sub(n));
    let mut out = String::new();
    for record in lines.iter().skip(skip).flatten() {
        if options.timestamps {
            out.push_str(record.time);
            out.push(' ');
        }
        out.push_str(record.text);
        if !record.partial {
            out.push('\n');
        }
    }
    (out, used)
}

/// Cuts `text` to at most `limit` bytes (at a character boundary).
pub fn limit(text: &mut String, limit: Option<usize>) {
    if let Some(limit) = limit.filter(|l| *l < text.len()) {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ContainerState;

    const FILE: &str = "2026-01-01T00:00:01.000000001Z stdout F one\n\
        2026-01-01T00:00:02.5Z stderr F two\n\
        2026-01-01T00:00:03Z stdout P thr\n\
        2026-01-01T00:00:03.5Z stdout F ee\n\
        2026-01-01T00:00:04Z stdout F four\n\
        2026-01-01T00:00:05Z stdout F fi";

    fn render_with(options: LogOptions) -> String {
        render(FILE, &options).0
    }

    #[test]
    fn renders_as_kubectl_logs_prints() {
        assert_eq!(
            render_with(LogOptions::default()),
            "one\ntwo\nthree\nfour\n"
        );
        assert_eq!(
            render(FILE, &LogOptions::default()).1,
            FILE.rfind('\n').unwrap() + 1
        );
        let tail = LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(render_with(tail), "three\nfour\n");
        let none = LogOptions {
            tail_lines: Some(0),
            ..Default::default()
        };
        assert_eq!(render_with(none), "");
        let since = LogOptions {
            since: Some("2026-01-01T00:00:02.5Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(render_with(since), "two\nthree\nfour\n");
        let stamped = LogOptions {
            timestamps: true,
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(
            render_with(stamped),
            "2026-01-01T00:00:03Z thr2026-01-01T00:00:03.5Z ee\n2026-01-01T00:00:04Z four\n"
        );
        let mut text = "héllo".to_owned();
        limit(&mut text, Some(2));
        assert_eq!(text, "h");
    }

    #[test]
    fn reads_the_query() {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let query: Vec<(String, String)> = [
            ("follow", "true"),
            ("tailLines", "10"),
            ("sinceSeconds", "30"),
            ("timestamps", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let options = LogOptions::from_query(&query, now).unwrap();
        assert_eq!(
            options,
            LogOptions {
                follow: true,
                timestamps: true,
                tail_lines: Some(10),
                since: Some("2026-01-01T00:00:30Z".parse().unwrap()),
                ..Default::default()
            }
        );
        let bad = vec![("tailLines".to_owned(), "x".to_owned())];
        assert!(LogOptions::from_query(&bad, now).is_err());
        for (value, want) in [
            ("True", true),
            ("1", true),
            ("yes", true),
            ("", true),
            ("FALSE", false),
            ("0", false),
        ] {
            let query = vec![("timestamps".to_owned(), value.to_owned())];
            let options = LogOptions::from_query(&query, now).unwrap();
            assert_eq!(options.timestamps, want, "timestamps={value}");
        }
    }

    fn pod(policy: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "a", "image": "busybox"}]},
        }))
        .unwrap()
    }

    fn run(attempt: u32, exited: bool) -> ContainerInfo {
        let at = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        ContainerInfo {
            id: format!("c{attempt}"),
            name: "a".into(),
            image: "busybox".into(),
            image_id: "sha256:1".into(),
            attempt,
            state: if exited {
                ContainerState::Exited {
                    exit_code: 1,
                    started_at: at(0),
                    finished_at: at(1),
                }
            } else {
                ContainerState::Running { started_at: at(0) }
            },
            log_path: None,
        }
    }

    #[test]
    fn picks_the_run_as_upstream() {
        let always = pod("Always");
        // running attempt 1 after a crash: current = 1, previous = 0
        let runs = vec![run(0, true), run(1, false)];
        assert_eq!(pick_run(&always, &runs, "a", false).unwrap().id, "c1");
        assert_eq!(pick_run(&always, &runs, "a", true).unwrap().id, "c0");
        // attempt 2 crashed and waits for its restart: both read it (lastState is attempt 2)
        let runs = vec![run(1, true), run(2, true)];
        assert_eq!(pick_run(&always, &runs, "a", true).unwrap().id, "c2");
        assert_eq!(pick_run(&always, &runs, "a", false).unwrap().id, "c2");
        // never restarted: no previous
        assert_eq!(
            pick_run(&pod("Never"), &[run(0, true)], "a", true),
            Err(LogError::BadRequest(
                "previous terminated container \"a\" in pod \"p\" not found".into()
            ))
        );
        assert_eq!(
            pick_run(&always, &[], "a", false),
            Err(LogError::BadRequest(
                "container \"a\" in pod \"p\" is waiting to start: ContainerCreating".into()
            ))
        );
        assert_eq!(
            pick_run(&always, &[], "b", false),
            Err(LogError::BadRequest(
                "container b is not valid for pod p".into()
            ))
        );
    }
}

//! API4 (unrestricted resource consumption), item 6: stalled and idle
//! connections are cut, open connections and requests in flight are
//! capped, and what does not fit is shed with 503 and `Retry-After` —
//! over plain HTTP and under TLS. Raw sockets, so nothing in a client
//! library hides what the server does.

use crate::support::{create_merchant, Backend, TestDatabase, TestServer};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HEADER_TIMEOUT_MS: &str = "400";
/// Far longer than any bound under test: a read still open by then means
/// the server kept the connection.
const PATIENCE: Duration = Duration::from_secs(5);

fn address(server: &TestServer) -> SocketAddr {
    let host = server.base_url.split("://").nth(1).unwrap();
    host.parse().unwrap()
}

/// A server, its database and a secret key (a stalled body must get past
/// authentication to be read at all).
async fn start(env: &[(&str, &str)]) -> (TestDatabase, TestServer, String) {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let key = create_merchant(&db, "Slow").secret_key;
    let mut all = vec![("PORTCULLIS_HEADER_TIMEOUT_MS", HEADER_TIMEOUT_MS)];
    all.extend_from_slice(env);
    let server = TestServer::start_with_env(&db, &[], &all);
    (db, server, key)
}

/// Reads until the server closes (or `PATIENCE` runs out); what it sent,
/// and whether it closed.
fn read_to_close(stream: &mut impl Read) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&seen).into_owned(), false)
}

fn connect(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(address(server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    stream
}

fn get_health(server: &TestServer) -> String {
    let mut stream = connect(server);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_to_close(&mut stream).0
}

/// Sends a POST head announcing a body that never comes: it holds a
/// request (and its permit) open until the body timeout.
fn stalled_post(stream: &mut impl Write, key: &str) {
    let head = format!(
        "POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname="
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let (_db, server, _) = start(&[]).await;
    let mut stream = connect(&server);
    let started = Instant::now();
    let (_, closed) = read_to_close(&mut stream);
    assert!(closed, "a connection that sends nothing must be closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let (_db, server, _) = start(&[]).await;
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle kept-alive connection must be closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_gets_408() {
    let (_db, server, key) = start(&[("PORTCULLIS_BODY_READ_TIMEOUT_MS", "500")]).await;
    let mut stream = connect(&server);
    stalled_post(&mut stream, &key);
    let (answer, _) = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_bound_are_shed_with_503_and_retry_after() {
    let env = [
        ("PORTCULLIS_REQUESTS_IN_FLIGHT_MAX", "1"),
        ("PORTCULLIS_BODY_READ_TIMEOUT_MS", "3000"),
    ];
    let (_db, server, key) = start(&env).await;
    let mut holder = connect(&server);
    stalled_post(&mut holder, &key);
    std::thread::sleep(Duration::from_millis(200));
    let shed = get_health(&server);
    assert!(shed.starts_with("HTTP/1.1 503"), "{shed}");
    assert!(
        shed.to_ascii_lowercase().contains("retry-after: 1"),
        "{shed}"
    );
    assert!(shed.contains("\"api_error\""), "{shed}");
    drop(holder);
    std::thread::sleep(Duration::from_millis(200));
    assert!(get_health(&server).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_cannot_starve_health() {
    let env = [
        ("PORTCULLIS_CONNECTIONS_MAX", "16"),
        ("PORTCULLIS_HEADER_TIMEOUT_MS", "10000"),
    ];
    let (_db, server, _) = start(&env).await;
    let idle: Vec<TcpStream> = (0..64).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let answer = get_health(&server);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_new_connection_gets_503() {
    let env = [
        ("PORTCULLIS_CONNECTIONS_MAX", "4"),
        ("PORTCULLIS_HEADER_TIMEOUT_MS", "10000"),
        ("PORTCULLIS_BODY_READ_TIMEOUT_MS", "8000"),
    ];
    let (_db, server, key) = start(&env).await;
    // Four connections that have spoken (a request under way) fill the cap.
    let busy: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = connect(&server);
            stalled_post(&mut stream, &key);
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused = get_health(&server);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    drop(busy);
    std::thread::sleep(Duration::from_millis(300));
    assert!(get_health(&server).starts_with("HTTP/1.1 200"));
}

/// A blocking TLS client that trusts the test's development certificate.
fn tls_connect(
    server: &TestServer,
    cert: &std::path::Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_file(cert).unwrap();
    roots.add(der).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(connection, connect(server))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_stalls_are_cut_and_load_is_shed() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let secret_key = create_merchant(&db, "Slow").secret_key;
    crate::support::cli(&db, &["dev-cert"]);
    let cert = db.data_dir.join("cert.pem");
    let key = db.data_dir.join("key.pem");
    let tls = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let env = [
        ("PORTCULLIS_HEADER_TIMEOUT_MS", HEADER_TIMEOUT_MS),
        ("PORTCULLIS_REQUESTS_IN_FLIGHT_MAX", "1"),
        ("PORTCULLIS_BODY_READ_TIMEOUT_MS", "3000"),
    ];
    let server = TestServer::start_with_env(&db, &tls, &env);

    // A TCP connection that never starts its handshake is closed.
    let mut silent = connect(&server);
    assert!(
        read_to_close(&mut silent).1,
        "a silent TLS socket must be closed"
    );

    // A stalled body holds the only request slot: the next request is shed.
    let mut holder = tls_connect(&server, &cert);
    stalled_post(&mut holder, &secret_key);
    std::thread::sleep(Duration::from_millis(300));
    let mut probe = tls_connect(&server, &cert);
    probe
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (shed, _) = read_to_close(&mut probe);
    assert!(shed.starts_with("HTTP/1.1 503"), "{shed}");
    assert!(
        shed.to_ascii_lowercase().contains("retry-after: 1"),
        "{shed}"
    );

    // The stalled body itself ends in 408 once its time is up.
    let (answer, _) = read_to_close(&mut holder);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

//! What the dashboard's tests share: a cookie-keeping browser that follows
//! no redirect, dashboard users made with the CLI and activated, payments,
//! and a direct look at the database.

use super::{cli, Api, TestDatabase, TestServer};
use serde_json::Value;

pub const PASSWORD: &str = "violet kettle drum 42";

/// A browser without a cookie jar of its own: it keeps the cookies it is
/// given and follows no redirect, so each answer can be looked at.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base_url.clone(),
            cookies: vec![],
        }
    }

    pub async fn send(&mut self, builder: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = builder.header("cookie", cookie).send().await.unwrap();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for line in &set_cookies {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }
}

/// The value of the first `csrf_token` field on the page.
pub fn csrf(page: &Page) -> String {
    let at = page
        .body
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF field")
        + 25;
    page.body[at..].split('"').next().unwrap().to_owned()
}

/// The current RFC 6238 code of a base32 secret, computed by Python's own
/// `hmac` (an implementation independent of ours).
pub fn python_totp(secret: &str) -> String {
    python_totp_at(secret, 0)
}

/// [`python_totp`], for the clock moved by `offset_s` seconds (the codes
/// of the steps before and after now, which the window accepts).
pub fn python_totp_at(secret: &str, offset_s: i64) -> String {
    let script = "import base64,hmac,struct,sys,time\n\
        key = base64.b32decode(sys.argv[1] + '=' * (-len(sys.argv[1]) % 8))\n\
        mac = hmac.digest(key, struct.pack('>Q', (int(time.time()) + int(sys.argv[2])) // 30), 'sha1')\n\
        o = mac[-1] & 15\n\
        print('%06d' % ((struct.unpack('>I', mac[o:o + 4])[0] & 0x7fffffff) % 1000000))";
    let out = std::process::Command::new("python3")
        .args(["-c", script, secret, &offset_s.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn create_user(db: &TestDatabase, merchant: &str, email: &str, role: &str) -> Value {
    let out = cli(
        db,
        &[
            "user",
            "create",
            "--merchant",
            merchant,
            "--email",
            email,
            "--role",
            role,
            "--json",
        ],
    );
    serde_json::from_str(out.trim()).unwrap()
}

pub fn token_of(user: &Value) -> String {
    let link = user["activation_link"].as_str().unwrap();
    assert!(link.contains("/dashboard/activate?token=dat_"), "{link}");
    link.split("token=").nth(1).unwrap().to_owned()
}

/// Activates `user` with `password` in a fresh browser, which is then signed in.
pub async fn activate(server: &TestServer, user: &Value) -> Browser {
    let mut browser = Browser::new(server);
    let token = token_of(user);
    let page = browser
        .get(&format!("/dashboard/activate?token={token}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = csrf(&page);
    let done = browser
        .post(
            "/dashboard/activate",
            &[
                ("token", &token),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    browser
}

pub async fn pay(api: &Api, amount: &str, description: &str) -> String {
    let answer = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", amount),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
                ("description", description),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["id"].as_str().unwrap().to_owned()
}

/// One number the database answers (`SELECT COUNT(*) …`), on either backend.
pub async fn count(db: &TestDatabase, sql: &str) -> i64 {
    if db.url.starts_with("sqlite") {
        let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite://")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        conn.query_row(sql, [], |row| row.get(0)).unwrap()
    } else {
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

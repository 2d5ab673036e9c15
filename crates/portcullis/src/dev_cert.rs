//! `portcullis dev-cert`: a self-signed certificate for local HTTPS, made
//! with rcgen. Never for production.

use crate::cli::DevCertArgs;
use crate::secrets::write_private;
use crate::settings::Settings;
use anyhow::Context;

pub fn run(settings: &Settings, args: &DevCertArgs) -> anyhow::Result<()> {
    let dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.clone());
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.extend(args.hosts.iter().cloned());
    let certified =
        rcgen::generate_simple_self_signed(names).context("generating the certificate")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    write_private(&key_path, certified.key_pair.serialize_pem().as_bytes())?;
    println!("wrote {} and {}", cert_path.display(), key_path.display());
    println!(
        "serve with: portcullis serve --tls-cert {} --tls-key {}",
        cert_path.display(),
        key_path.display()
    );
    Ok(())
}

//! JSON logs on stdout, every line masked on its way out.

/// `RUST_LOG` or the default filter; kube-client logs whole response bodies (people's data)
/// when one fails to parse, so below error level nothing of kube's is logged.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=error,kube_client=error,hyper=warn".into()),
        )
        .with_writer(MaskedStdout)
        .try_init();
}

/// Log lines leave with national identity numbers masked, whoever wrote them: accord, kube,
/// or an error body in which a server echoed a value.
struct MaskedStdout;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskedStdout {
    type Writer = MaskedLine;
    fn make_writer(&'a self) -> MaskedLine {
        MaskedLine(Vec::new())
    }
}

/// One log event, written masked when the subscriber is done with it.
struct MaskedLine(Vec<u8>);

impl std::io::Write for MaskedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let masked = crate::validate::redact::masked(&text);
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), masked.as_bytes());
    }
}


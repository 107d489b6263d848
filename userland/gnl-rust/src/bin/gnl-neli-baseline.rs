//! `gnl-neli-baseline`: the bench's baseline, the plainest neli client of the family (as neli's own
//! `examples/custom_generic_nl_family_custom_types.rs`): `NlRouter`, `resolve_genl_family`, one
//! request per call. It only knows `echo [MSG]` and `bench oneshot|steady|dump [--iterations N]
//! [--count N]`, with the output of `userland/INTERFACE.md`; errors are neli's, exit code 1.

use std::time::Instant;

use gnl_rust::{Attr, Cmd, FAMILY_NAME};
use neli::{
    consts::{nl::NlmF, socket::NlFamily},
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder},
    nl::NlPayload,
    router::synchronous::NlRouter,
    types::{Buffer, GenlBuffer},
    utils::Groups,
};

type BoxError = Box<dyn std::error::Error>;

fn connect() -> Result<(NlRouter, u16), BoxError> {
    let (router, _) = NlRouter::connect(NlFamily::Generic, Some(0), Groups::empty())?;
    let family = router.resolve_genl_family(FAMILY_NAME)?;
    Ok((router, family))
}

/// One request; returns the `A_MSG` of every reply.
fn request(
    router: &NlRouter,
    family: u16,
    flags: NlmF,
    attr: Option<(Attr, Buffer)>,
) -> Result<Vec<String>, BoxError> {
    let attrs = attr
        .map(|(ty, payload)| {
            let ty = AttrTypeBuilder::default().nla_type(ty).build()?;
            Ok::<_, BoxError>(
                NlattrBuilder::default()
                    .nla_type(ty)
                    .nla_payload(payload)
                    .build()?,
            )
        })
        .transpose()?;
    let genl = GenlmsghdrBuilder::default()
        .cmd(Cmd::Echo)
        .version(nl_codec::uapi::GNL_FOOBAR_XMPL_FAMILY_VERSION as u8)
        .attrs(attrs.into_iter().collect::<GenlBuffer<_, _>>())
        .build()?;
    let recv =
        router.send::<_, _, u16, Genlmsghdr<Cmd, Attr>>(family, flags, NlPayload::Payload(genl))?;
    let mut msgs = Vec::new();
    for msg in recv {
        if let Some(payload) = msg?.get_payload() {
            msgs.push(
                payload
                    .attrs()
                    .get_attr_handle()
                    .get_attr_payload_as_with_len::<String>(Attr::Msg)?,
            );
        }
    }
    Ok(msgs)
}

fn echo(router: &NlRouter, family: u16, msg: &str) -> Result<Vec<String>, BoxError> {
    request(
        router,
        family,
        NlmF::empty(),
        Some((Attr::Msg, Buffer::from([msg.as_bytes(), b"\0"].concat()))),
    )
}

fn run(args: &[String]) -> Result<(), BoxError> {
    let flag = |name: &str, default: u32| -> Result<u32, BoxError> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args.get(i + 1).ok_or("missing value")?.parse()?),
            None => Ok(default),
        }
    };
    let (router, family) = connect()?;
    match args.first().map(String::as_str) {
        Some("echo") => {
            let msg = args.get(1).map_or("hello", String::as_str);
            let reply = echo(&router, family, msg)?;
            println!("sent: {msg}");
            println!("received: {}", reply.first().ok_or("no reply")?);
        }
        Some("bench") => {
            let (iterations, count) = (
                flag("--iterations", 1000)?,
                flag("--count", *gnl_rust::DUMP_COUNT.end())?,
            );
            let mut ns = Vec::with_capacity(iterations as usize);
            for _ in 0..iterations {
                let start = Instant::now();
                match args.get(1).map(String::as_str) {
                    Some("oneshot") => {
                        let (router, family) = connect()?;
                        echo(&router, family, "hello")?;
                    }
                    Some("steady") => drop(echo(&router, family, "hello")?),
                    Some("dump") => {
                        let count = Buffer::from(count.to_ne_bytes().to_vec());
                        request(&router, family, NlmF::DUMP, Some((Attr::Count, count)))?;
                    }
                    _ => return Err("usage: gnl-neli-baseline bench oneshot|steady|dump".into()),
                }
                ns.push(start.elapsed().as_nanos());
            }
            ns.iter().for_each(|n| println!("{n}"));
        }
        _ => return Err("usage: gnl-neli-baseline echo [MSG] | bench WORKLOAD".into()),
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

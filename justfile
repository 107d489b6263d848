# genl-lab: a thin front end. Every recipe calls the lab runner (`cargo lab`, see vm/).

# List the recipes.
default:
    @just --list

# Build, boot each kernel, run the snapshot suite, print a verdict (e.g. `just test --kernel all`).
test *ARGS:
    cargo lab test {{ARGS}}

# Boot one kernel and keep it; rerun the suite on every change (`just watch -- echo`), until Ctrl-C.
watch *ARGS:
    cargo lab watch {{ARGS}}

# Insert the module and show each client's echo, dump and error, then the kernel log.
demo *ARGS:
    cargo lab demo {{ARGS}}

# Every message on the wire: each client's requests and the kernel's answers, byte by byte, and a pcap.
tour *ARGS:
    cargo lab tour {{ARGS}}

# Run a command as root in a VM with the module inserted: `just exec -- gnl-raw echo hi`.
exec *ARGS:
    cargo lab exec {{ARGS}}

# Open a root shell in a VM with the module inserted and the clients on PATH.
shell *ARGS:
    cargo lab shell {{ARGS}}

# List the known kernels, what is cached, and the exact package versions.
kernels *ARGS:
    cargo lab kernels {{ARGS}}

# Boot hardened, fuzz both modules, stress, unload under load, check leaks and privileges.
fuzz *ARGS:
    cargo lab fuzz {{ARGS}}

# Time each client per round trip in a VM (`just bench --lab` times the lab's own phases).
bench *ARGS:
    cargo lab bench {{ARGS}}

# Start your own family: a renamed, green copy of the lab (`just new NAME [DIR]`).
new *ARGS:
    cargo lab new {{ARGS}}

# Static checks: module W=1/sparse/checkpatch, rustfmt, clippy, shellcheck, actionlint.
lint *ARGS:
    cargo lab lint {{ARGS}}

# Run a lab command inside the lab's image (podman or docker): `just container test --kernel 6.1`.
container *ARGS:
    vm/container {{ARGS}}

# Regenerate the UAPI header and docs/gnl_foobar_xmpl.rst from the YNL spec (kmod/gnl_foobar_xmpl.yaml).
regenerate:
    cargo lab lint --regenerate

# Review snapshot changes left by a failed run (accept or reject each); needs cargo-insta.
review:
    @cargo insta --version >/dev/null 2>&1 || { echo "cargo-insta is missing; install it with: cargo install --locked cargo-insta" >&2; exit 1; }
    cargo insta review

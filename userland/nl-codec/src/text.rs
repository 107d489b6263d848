//! Errors and bytes as people read them, the same in every crate that prints them: the C
//! library's `strerror` text, an errno's usual name, bytes in hex.

use std::ffi::CStr;

/// The C library's text for an errno value (`strerror`), so every client prints the same text.
pub fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a NUL-terminated string valid until the next call; copied at once.
    unsafe { CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

/// An errno by its usual name (`EINVAL`), or `errno N` for one the lab does not meet.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINVAL => "EINVAL",
        libc::ERANGE => "ERANGE",
        libc::ENOMEM => "ENOMEM",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::E2BIG => "E2BIG",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EACCES => "EACCES",
        libc::EBADMSG => "EBADMSG",
        libc::EPROTO => "EPROTO",
        _ => return format!("errno {errno}"),
    };
    name.to_owned()
}

/// Bytes as lowercase hex pairs separated by spaces.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_bytes_read_as_people_write_them() {
        assert_eq!(strerror(libc::EINVAL), "Invalid argument");
        assert_eq!(errno_name(libc::EINVAL), "EINVAL");
        assert_eq!(errno_name(4095), "errno 4095");
        assert_eq!(hex(&[0x1b, 0x00, 0xff]), "1b 00 ff");
        assert_eq!(hex(&[]), "");
    }
}

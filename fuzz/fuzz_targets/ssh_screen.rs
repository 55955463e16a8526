//! What an SSH device writes to its PTY: the screen emulator (ANSI/VT100
//! sequences, cursor moves, erase) and prompt/pager detection. A 0xff byte
//! splits the input into reads.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| outpost_worker::fuzz_api::ssh_screen(data));

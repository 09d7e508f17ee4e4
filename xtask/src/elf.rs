//! Just enough ELF for `cargo xtask setup`: read the `.comment` section of the wheel's firmware
//! (to learn which sfpi compiler built it) and write the minimal RISC-V kernel ELF the mock
//! device's stub compiler "links".

use anyhow::{bail, Context, Result};

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

struct Section {
    name_offset: u32,
    offset: u64,
    size: u64,
}

/// The section headers of a little-endian ELF32 or ELF64 file.
fn sections(b: &[u8]) -> Option<(Vec<Section>, usize)> {
    if b.get(..4)? != b"\x7fELF" || *b.get(5)? != 1 {
        return None;
    }
    let is64 = match *b.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let (shoff, shentsize, shnum, shstrndx) = if is64 {
        (
            u64_at(b, 0x28)?,
            u16_at(b, 0x3a)?,
            u16_at(b, 0x3c)?,
            u16_at(b, 0x3e)?,
        )
    } else {
        (
            u64::from(u32_at(b, 0x20)?),
            u16_at(b, 0x2e)?,
            u16_at(b, 0x30)?,
            u16_at(b, 0x32)?,
        )
    };
    let mut out = Vec::with_capacity(usize::from(shnum));
    for i in 0..u64::from(shnum) {
        let at = usize::try_from(shoff.checked_add(i.checked_mul(u64::from(shentsize))?)?).ok()?;
        out.push(if is64 {
            Section {
                name_offset: u32_at(b, at)?,
                offset: u64_at(b, at + 0x18)?,
                size: u64_at(b, at + 0x20)?,
            }
        } else {
            Section {
                name_offset: u32_at(b, at)?,
                offset: u64::from(u32_at(b, at + 0x10)?),
                size: u64::from(u32_at(b, at + 0x14)?),
            }
        });
    }
    Some((out, usize::from(shstrndx)))
}

fn section_bytes<'a>(b: &'a [u8], s: &Section) -> Option<&'a [u8]> {
    let start = usize::try_from(s.offset).ok()?;
    let end = start.checked_add(usize::try_from(s.size).ok()?)?;
    b.get(start..end)
}

/// The NUL-separated strings of the `.comment` section (`GCC: (...) 15.1.0`), if any.
pub fn comment_strings(bytes: &[u8]) -> Option<Vec<String>> {
    let (secs, shstrndx) = sections(bytes)?;
    let names = section_bytes(bytes, secs.get(shstrndx)?)?;
    for s in &secs {
        let name_start = usize::try_from(s.name_offset).ok()?;
        let rest = names.get(name_start..)?;
        let name = &rest[..rest.iter().position(|&c| c == 0)?];
        if name == b".comment" {
            let data = section_bytes(bytes, s)?;
            return Some(
                data.split(|&c| c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            );
        }
    }
    None
}

/// The `--version` line of the compiler named in firmware `.comment` strings: GCC records
/// `GCC: (tenstorrent/sfpi:7.89.0[1050]) 15.1.0`, the driver prints
/// `riscv-tt-elf-g++ (tenstorrent/sfpi:7.89.0[1050]) 15.1.0`.
pub fn version_line_from_comment(comment: &str) -> Option<String> {
    let rest = comment.strip_prefix("GCC: ")?;
    rest.starts_with('(')
        .then(|| format!("riscv-tt-elf-g++ {rest}"))
}

/// Reads the sfpi compiler line from firmware ELFs; all that carry one must agree.
pub fn sfpi_version_line(elfs: &[std::path::PathBuf]) -> Result<String> {
    let mut found: Option<(String, std::path::PathBuf)> = None;
    for path in elfs {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let Some(comments) = comment_strings(&bytes) else {
            continue;
        };
        for c in comments {
            if let Some(line) = version_line_from_comment(&c) {
                match &found {
                    Some((l, first)) if *l != line => bail!(
                        "the wheel's firmware was built by two compilers: `{l}` ({}) and `{line}` ({})",
                        first.display(),
                        path.display()
                    ),
                    Some(_) => {}
                    None => found = Some((line, path.clone())),
                }
            }
        }
    }
    found.map(|(l, _)| l).with_context(|| {
        format!(
            "none of the {} firmware ELFs has a `.comment` naming its compiler",
            elfs.len()
        )
    })
}

/// A minimal RISC-V ELF32 executable tt-metal's kernel loader accepts: one PT_LOAD segment with
/// a single `ret` at `vaddr` (the entry), `.text`, an empty `.rela.text` (the loader's XIP pass
/// wants a relocation section), `.symtab` with the null symbol, `.strtab`, `.shstrtab`.
pub fn minimal_riscv_kernel(vaddr: u32) -> Vec<u8> {
    const EHSIZE: u32 = 52;
    const PHSIZE: u32 = 32;
    const SHSIZE: u32 = 40;
    let text = 0x0000_8067u32.to_le_bytes(); // ret (jalr x0, 0(ra))
    let shstrtab: &[u8] = b"\0.text\0.rela.text\0.symtab\0.strtab\0.shstrtab\0";
    let name = |n: &str| -> u32 {
        let needle = format!("{n}\0");
        shstrtab
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .expect("section name in shstrtab") as u32
    };
    let strtab: &[u8] = b"\0";
    let symtab = [0u8; 16];
    let o_ph = EHSIZE;
    let o_text = o_ph + PHSIZE;
    let o_sym = o_text + text.len() as u32;
    let o_str = o_sym + symtab.len() as u32;
    let o_shstr = o_str + strtab.len() as u32;
    let o_sh = (o_shstr + shstrtab.len() as u32 + 3) & !3;
    let nsections = 6u16;

    let mut out = Vec::new();
    let p16 = |o: &mut Vec<u8>, v: u16| o.extend_from_slice(&v.to_le_bytes());
    let p32 = |o: &mut Vec<u8>, v: u32| o.extend_from_slice(&v.to_le_bytes());
    // ELF header: ELFCLASS32, little endian, version 1, SYSV ABI.
    out.extend_from_slice(b"\x7fELF\x01\x01\x01\x00");
    out.extend_from_slice(&[0; 8]);
    p16(&mut out, 2); // ET_EXEC
    p16(&mut out, 243); // EM_RISCV
    p32(&mut out, 1); // EV_CURRENT
    p32(&mut out, vaddr); // entry
    p32(&mut out, o_ph);
    p32(&mut out, o_sh);
    p32(&mut out, 0x5); // e_flags: RVC | 0x4, the value checked to load on the mock device
    p16(&mut out, EHSIZE as u16);
    p16(&mut out, PHSIZE as u16);
    p16(&mut out, 1);
    p16(&mut out, SHSIZE as u16);
    p16(&mut out, nsections);
    p16(&mut out, 5); // shstrndx
                      // Program header: PT_LOAD of .text, R+X.
    for v in [1, o_text, vaddr, vaddr, 4, 4, 5, 4] {
        p32(&mut out, v);
    }
    out.extend_from_slice(&text);
    out.extend_from_slice(&symtab);
    out.extend_from_slice(strtab);
    out.extend_from_slice(shstrtab);
    out.resize(o_sh as usize, 0);
    let mut sh = |name: u32,
                  typ: u32,
                  flags: u32,
                  addr: u32,
                  offset: u32,
                  size: u32,
                  link: u32,
                  info: u32,
                  align: u32,
                  entsize: u32| {
        for v in [
            name, typ, flags, addr, offset, size, link, info, align, entsize,
        ] {
            p32(&mut out, v);
        }
    };
    sh(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    sh(name(".text"), 1, 6, vaddr, o_text, 4, 0, 0, 4, 0); // PROGBITS, AX
    sh(name(".rela.text"), 4, 0x40, 0, o_sym, 0, 3, 1, 4, 12); // RELA, INFO_LINK, empty
    sh(
        name(".symtab"),
        2,
        0,
        0,
        o_sym,
        symtab.len() as u32,
        4,
        1,
        4,
        16,
    );
    sh(
        name(".strtab"),
        3,
        0,
        0,
        o_str,
        strtab.len() as u32,
        0,
        0,
        1,
        0,
    );
    sh(
        name(".shstrtab"),
        3,
        0,
        0,
        o_shstr,
        shstrtab.len() as u32,
        0,
        0,
        1,
        0,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_kernel_is_a_readable_riscv_elf() {
        let elf = minimal_riscv_kernel(0);
        assert_eq!(&elf[..4], b"\x7fELF");
        assert_eq!(u16_at(&elf, 18), Some(243));
        let (secs, shstrndx) = sections(&elf).unwrap();
        assert_eq!(secs.len(), 6);
        assert_eq!(shstrndx, 5);
        // No .comment: nothing to read, and no panic.
        assert_eq!(comment_strings(&elf), None);
    }

    #[test]
    fn comment_lines_become_version_lines() {
        assert_eq!(
            version_line_from_comment("GCC: (tenstorrent/sfpi:7.89.0[1050]) 15.1.0").as_deref(),
            Some("riscv-tt-elf-g++ (tenstorrent/sfpi:7.89.0[1050]) 15.1.0")
        );
        assert_eq!(version_line_from_comment("Linker: LLD 17"), None);
    }

    #[test]
    fn reads_comment_of_a_host_elf() {
        // Any ELF built by GCC carries `.comment`; the running test binary is one.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if let Some(c) = comment_strings(&exe) {
            assert!(
                c.iter()
                    .any(|s| s.contains("GCC") || s.contains("rustc") || s.contains("clang")),
                "{c:?}"
            );
        }
        assert_eq!(comment_strings(b"not an elf"), None);
    }
}

//! Short names an operator uses for firmware components (`iDRAC`, `BIOS`,
//! `NIC`, `RAID`, `CPLD`, …), matched case-insensitively against what a
//! Dell `FirmwareInventory` member calls itself. The inventory's own names
//! are long and vendor-specific ("Integrated Dell Remote Access
//! Controller", "Broadcom Gigabit Ethernet BCM5720", "PERC H755 Front"),
//! so each short name lists the words and Dell ComponentIDs that mark it.

use super::inventory::Member;

/// A short name and what marks a component as one.
struct Short {
    name: &'static str,
    /// Other spellings accepted for it.
    aliases: &'static [&'static str],
    /// Lowercase words, one of which the member's name contains.
    words: &'static [&'static str],
    /// Dell ComponentIDs (`SoftwareId`) that are this component.
    ids: &'static [&'static str],
}

const SHORT: &[Short] = &[
    Short {
        name: "iDRAC",
        aliases: &["idrac9", "bmc"],
        words: &["integrated dell remote access controller", "idrac"],
        ids: &["25227"],
    },
    Short {
        name: "BIOS",
        aliases: &[],
        words: &["bios"],
        ids: &["159"],
    },
    Short {
        name: "NIC",
        aliases: &["network", "ethernet"],
        words: &[
            "ethernet", "network", "nic", "connectx", "mellanox", "qlogic", "emulex",
        ],
        ids: &[],
    },
    Short {
        name: "RAID",
        aliases: &["perc", "storage controller"],
        words: &["perc", "raid", "hba"],
        ids: &[],
    },
    Short {
        name: "BOSS",
        aliases: &[],
        words: &["boss"],
        ids: &[],
    },
    Short {
        name: "CPLD",
        aliases: &[],
        words: &["cpld"],
        ids: &["27763"],
    },
    Short {
        name: "PSU",
        aliases: &["power supply"],
        words: &["power supply", "pwr sply"],
        ids: &[],
    },
    Short {
        name: "Backplane",
        aliases: &[],
        words: &["backplane"],
        ids: &[],
    },
    Short {
        name: "Lifecycle Controller",
        aliases: &["lc", "lifecycle"],
        words: &["lifecycle controller"],
        ids: &[],
    },
    Short {
        name: "Diagnostics",
        aliases: &["diags"],
        words: &["diagnostics"],
        ids: &[],
    },
    Short {
        name: "OS Collector",
        aliases: &["oscollector"],
        words: &["os collector"],
        ids: &[],
    },
    Short {
        name: "Driver Pack",
        aliases: &["drivers", "os driver pack"],
        words: &["driver pack"],
        ids: &[],
    },
];

/// Whether `wanted` is one of the short names (or its aliases) and `m`
/// is such a component.
pub fn short_name_matches(m: &Member, wanted: &str) -> bool {
    let w = wanted.trim().to_ascii_lowercase();
    let Some(short) = SHORT
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(&w) || s.aliases.contains(&w.as_str()))
    else {
        return false;
    };
    let name = m.name.to_ascii_lowercase();
    short.words.iter().any(|word| name.contains(word))
        || m.software_id
            .as_deref()
            .is_some_and(|id| short.ids.contains(&id))
}

/// The short names, for error messages.
pub fn short_names() -> String {
    SHORT.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, id: &str) -> Member {
        Member {
            id: format!("Installed-{id}-1.0"),
            name: name.into(),
            version: "1.0".into(),
            updateable: true,
            component_type: None,
            software_id: Some(id.into()),
        }
    }

    #[test]
    fn short_names_find_long_inventory_names() {
        let idrac = member("Integrated Dell Remote Access Controller", "25227");
        let nic = member("Broadcom Gigabit Ethernet BCM5720", "108255");
        let perc = member("PERC H755 Front", "104298");
        let cpld = member("System CPLD", "27763");
        for (m, names) in [
            (&idrac, &["iDRAC", "idrac", "IDRAC", "bmc"][..]),
            (&nic, &["NIC", "nic", "Ethernet"][..]),
            (&perc, &["RAID", "raid", "PERC"][..]),
            (&cpld, &["CPLD", "cpld"][..]),
        ] {
            for n in names {
                assert!(short_name_matches(m, n), "{n} → {}", m.name);
            }
        }
        assert!(!short_name_matches(&nic, "iDRAC"));
        assert!(!short_name_matches(&idrac, "BIOS"));
        assert!(
            !short_name_matches(&idrac, "Integrated"),
            "not a short name"
        );
        assert!(short_names().contains("iDRAC") && short_names().contains("CPLD"));
    }
}

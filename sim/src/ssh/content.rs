//! What a simulated device prints: banner, configuration of about
//! `config_bytes` bytes, `show version`, the interface summary, and the
//! platform's error texts. Everything is deterministic (a function of the
//! spec), uses `\n` line ends (the terminal turns them into `\r\n`).

use std::fmt::Write as _;

use super::spec::{DeviceSpec, Platform};

/// The MOTD line printed when the shell starts.
pub fn banner(spec: &DeviceSpec) -> String {
    match spec.platform {
        Platform::Ios => format!(
            "\n*** {} - authorised access only (outpost-sim Cisco IOS) ***\n\n",
            spec.name
        ),
        Platform::Eos => format!("Last login: outpost-sim Arista EOS on {}\n", spec.name),
        Platform::Junos => "--- JUNOS 21.4R3-S5.4 built 2023-08-09 00:00:00 UTC\n".to_string(),
    }
}

fn serial(spec: &DeviceSpec) -> String {
    // FNV-1a over the name: stable per device name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in spec.name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("SIM{:08X}", h as u32)
}

/// `show version`.
pub fn show_version(spec: &DeviceSpec) -> String {
    let n = &spec.name;
    let sn = serial(spec);
    match spec.platform {
        Platform::Ios => format!(
            "Cisco IOS XE Software, Version 17.09.04a\n\
             Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc3)\n\
             Technical Support: http://www.cisco.com/techsupport\n\
             Copyright (c) 1986-2023 by Cisco Systems, Inc.\n\
             \n\
             ROM: IOS-XE ROMMON\n\
             BOOTLDR: System Bootstrap, Version 17.9.1r, RELEASE SOFTWARE (P)\n\
             \n\
             {n} uptime is 12 weeks, 3 days, 4 hours, 5 minutes\n\
             Uptime for this control processor is 12 weeks, 3 days, 4 hours, 7 minutes\n\
             System returned to ROM by Reload Command\n\
             System image file is \"flash:packages.conf\"\n\
             \n\
             cisco C9300-48P (X86) processor with 1343703K/6147K bytes of memory.\n\
             Processor board ID {sn}\n\
             48 Gigabit Ethernet interfaces\n\
             4 Ten Gigabit Ethernet interfaces\n\
             \n\
             Switch Ports Model              SW Version        SW Image              Mode\n\
             ------ ----- -----              ----------        ----------            ----\n\
             *    1 52    C9300-48P          17.09.04a         CAT9K_IOSXE           INSTALL\n\
             \n\
             Configuration register is 0x102\n"
        ),
        Platform::Eos => format!(
            "Arista DCS-7050SX3-48YC8-R\n\
             Hardware version: 11.01\n\
             Serial number: {sn}\n\
             Hardware MAC address: 001c.7300.0001\n\
             System MAC address: 001c.7300.0001\n\
             \n\
             Software image version: 4.30.4M\n\
             Architecture: x86_64\n\
             Internal build version: 4.30.4M-33936452.4304M\n\
             \n\
             Hostname: {n}\n\
             Uptime: 12 weeks, 3 days, 4 hours and 5 minutes\n\
             Total memory: 16012188 kB\n\
             Free memory: 11234567 kB\n"
        ),
        Platform::Junos => format!(
            "fpc0:\n\
             --------------------------------------------------------------------------\n\
             Hostname: {n}\n\
             Model: ex4300-48p\n\
             Junos: 21.4R3-S5.4\n\
             JUNOS OS Kernel 64-bit  [20230809.0000_builder_stable_12]\n\
             JUNOS OS runtime [20230809.0000_builder_stable_12]\n\
             JUNOS EX  Software Suite [21.4R3-S5.4]\n\
             Serial number: {sn}\n"
        ),
    }
}

/// `show ip interface brief` (ios/eos) or `show interfaces terse` (junos).
pub fn interfaces_brief(spec: &DeviceSpec) -> String {
    let mut s = String::new();
    match spec.platform {
        Platform::Ios => {
            s.push_str(
                "Interface              IP-Address      OK? Method Status                Protocol\n",
            );
            s.push_str(
                "Vlan1                  10.0.0.1        YES NVRAM  up                    up      \n",
            );
            for i in 1..=48 {
                let status = if i % 3 == 0 { "down" } else { "up" };
                let _ = writeln!(
                    s,
                    "GigabitEthernet1/0/{i:<4} unassigned      YES unset  {status:<21} {status:<8}"
                );
            }
        }
        Platform::Eos => {
            s.push_str(
                "                                                                    Address\n",
            );
            s.push_str(
                "Interface       IP Address         Status       Protocol         MTU    Owner\n",
            );
            s.push_str(
                "--------------- ------------------ ------------ ---------------- ------ -------\n",
            );
            s.push_str(
                "Management1     10.0.0.1/24        up           up               1500          \n",
            );
            for i in 1..=48 {
                let _ = writeln!(
                    s,
                    "Ethernet{i:<7} unassigned         up           up               9214          "
                );
            }
        }
        Platform::Junos => {
            s.push_str(
                "Interface               Admin Link Proto    Local                 Remote\n",
            );
            for i in 0..48 {
                let _ = writeln!(s, "ge-0/0/{i:<16} up    up");
                let _ = writeln!(s, "ge-0/0/{i}.0{:<13} up    up   eth-switch", "");
            }
            s.push_str("me0                     up    up\n");
            s.push_str("me0.0                   up    up   inet     10.0.0.1/24\n");
        }
    }
    s
}

/// The full configuration, about `config_bytes` long (never less than the
/// fixed header and trailer), containing `hostname NAME` / `host-name NAME;`.
pub fn configuration(spec: &DeviceSpec) -> String {
    match spec.platform {
        Platform::Ios | Platform::Eos => ios_like_config(spec),
        Platform::Junos => junos_config(spec),
    }
}

fn ios_like_config(spec: &DeviceSpec) -> String {
    let n = &spec.name;
    let eos = spec.platform == Platform::Eos;
    let mut body = String::new();
    if eos {
        let _ = write!(
            body,
            "! Command: show running-config\n\
             ! device: {n} (DCS-7050SX3-48YC8, EOS-4.30.4M)\n\
             !\n\
             ! boot system flash:/EOS-4.30.4M.swi\n\
             !\n\
             transceiver qsfp default-mode 4x10G\n\
             !\n\
             hostname {n}\n\
             ip name-server vrf default 10.0.0.53\n\
             !\n\
             spanning-tree mode mstp\n\
             !\n\
             aaa authorization exec default local\n\
             !\n\
             username admin privilege 15 role network-admin secret sha512 $6$simulated\n\
             !\n"
        );
    } else {
        let _ = write!(
            body,
            "!\n\
             ! Last configuration change at 09:12:01 UTC Mon Jan 8 2024 by admin\n\
             !\n\
             version 17.9\n\
             service timestamps debug datetime msec\n\
             service timestamps log datetime msec\n\
             service password-encryption\n\
             !\n\
             hostname {n}\n\
             !\n\
             boot-start-marker\n\
             boot-end-marker\n\
             !\n\
             enable secret 9 $9$simulatedsecrethash\n\
             !\n\
             aaa new-model\n\
             aaa authentication login default local\n\
             !\n\
             ip domain name sim.example.net\n\
             !\n\
             username admin privilege 15 secret 9 $9$simulateduserhash\n\
             !\n"
        );
    }
    let trailer = format!(
        "!\n\
         interface Vlan1\n ip address 10.0.0.1 255.255.255.0\n\
         !\n\
         ip route 0.0.0.0 0.0.0.0 10.0.0.254\n\
         !\n\
         snmp-server location {n}\n\
         !\n\
         line vty 0 15\n transport input ssh\n\
         !\n\
         end\n"
    );
    let mut i: usize = 0;
    while body.len() + trailer.len() < spec.config_bytes {
        i += 1;
        let (slot, port) = (i / 48 + 1, i % 48 + 1);
        let vlan = 100 + (i % 20);
        if eos {
            let _ = write!(
                body,
                "interface Ethernet{slot}/{port}\n   description {n} port {i} to host-{i:05}\n   switchport access vlan {vlan}\n   spanning-tree portfast\n!\n"
            );
        } else {
            let _ = write!(
                body,
                "interface GigabitEthernet{slot}/0/{port}\n description {n} port {i} to host-{i:05}\n switchport access vlan {vlan}\n switchport mode access\n spanning-tree portfast\n!\n"
            );
        }
    }
    body.push_str(&trailer);
    if eos {
        body
    } else {
        format!(
            "Building configuration...\n\nCurrent configuration : {} bytes\n{body}",
            body.len()
        )
    }
}

fn junos_config(spec: &DeviceSpec) -> String {
    let n = &spec.name;
    let mut body = format!(
        "## Last commit: 2024-01-08 09:12:01 UTC by admin\n\
         version 21.4R3-S5.4;\n\
         system {{\n    host-name {n};\n    root-authentication {{\n        encrypted-password \"$6$simulated\"; ## SECRET-DATA\n    }}\n    login {{\n        user {u} {{\n            class super-user;\n        }}\n    }}\n    services {{\n        ssh;\n    }}\n}}\n\
         interfaces {{\n",
        u = spec.username
    );
    let trailer = "    me0 {\n        unit 0 {\n            family inet {\n                address 10.0.0.1/24;\n            }\n        }\n    }\n}\n\
         routing-options {\n    static {\n        route 0.0.0.0/0 next-hop 10.0.0.254;\n    }\n}\n";
    let mut i: usize = 0;
    while body.len() + trailer.len() < spec.config_bytes {
        let (fpc, port) = (i / 48, i % 48);
        i += 1;
        let _ = write!(
            body,
            "    ge-{fpc}/0/{port} {{\n        description \"{n} port {i} to host-{i:05}\";\n        unit 0 {{\n            family ethernet-switching {{\n                vlan {{\n                    members v{};\n                }}\n            }}\n        }}\n    }}\n",
            100 + i % 20
        );
    }
    body.push_str(trailer);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_size_tracks_config_bytes() {
        for p in [Platform::Ios, Platform::Eos, Platform::Junos] {
            let mut spec = DeviceSpec::new("sw1", "127.0.0.1:0".parse().unwrap(), p, "admin", "pw");
            spec.config_bytes = 100_000;
            let c = configuration(&spec);
            assert!(c.len() >= 100_000 && c.len() < 101_000, "{p:?} {}", c.len());
            assert!(c.contains("sw1"));
        }
    }
}

#!/bin/bash
# Runs inside the box's root filesystem (chroot) while vagrant/build-box.sh builds it. Offline:
# everything it installs is already in the image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

echo recon-lab > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 recon-lab\n' > /etc/hosts

# Network: DHCP on the first NIC (vagrant-libvirt's management network, isolated).
install -d /etc/systemd/network
cat > /etc/systemd/network/20-eth0.network <<'EOF'
[Match]
Name=eth0

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
UseDNS=no
UseRoutes=no
EOF
systemctl enable systemd-networkd.service >/dev/null 2>&1
# Nothing to resolve until the lab's resolver is provisioned.
: > /etc/resolv.conf

# The vagrant user (insecure key, replaced by Vagrant on first `vagrant up`) with sudo.
id vagrant >/dev/null 2>&1 || useradd -m -s /bin/bash vagrant
install -d -m 700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 600 -o vagrant -g vagrant /opt/recon-harness/vagrant-insecure.pub /home/vagrant/.ssh/authorized_keys
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/vagrant
chmod 440 /etc/sudoers.d/vagrant

# sshd: per-VM host keys generated on first boot, and the ed25519 public key written to the serial
# port (ttyS0), which libvirt logs to a file on the host: the harness pins the key from there
# instead of trusting the first key the network offers.
rm -f /etc/ssh/ssh_host_*
# Only ed25519 and ECDSA host keys: RSA key generation takes minutes under software emulation.
cat > /etc/ssh/sshd_config.d/recon-harness.conf <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
UseDNS no
PermitRootLogin prohibit-password
PasswordAuthentication no
EOF
cat > /etc/systemd/system/recon-hostkeys.service <<'EOF'
[Unit]
Description=Generate SSH host keys and publish them on the serial console
Before=ssh.service
After=systemd-remount-fs.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for t in ed25519 ecdsa; do [ -s /etc/ssh/ssh_host_$${t}_key ] || ssh-keygen -q -t $$t -N "" -f /etc/ssh/ssh_host_$${t}_key; done; for i in 1 2 3; do echo "RECON-HARNESS-HOSTKEY $(cat /etc/ssh/ssh_host_ed25519_key.pub)" > /dev/ttyS0; sleep 1; done &'
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
systemctl enable recon-hostkeys.service >/dev/null 2>&1

# Quick boot on an emulated CPU: no waiting for "network online", no timers.
systemctl disable apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1 || true
# The services the lab runs itself, in its own namespace, with its own configs.
for unit in squid.service ulogd2.service nftables.service; do
  systemctl disable "$unit" >/dev/null 2>&1 || true
done

# auditd runs from boot; the harness adds its own keyed rules at provisioning.
systemctl enable auditd.service >/dev/null 2>&1

# The Shodan CLI, offline from wheels built on the host.
python3 -m venv /opt/recon-harness/shodan
/opt/recon-harness/shodan/bin/pip install --quiet --no-index --find-links /opt/recon-harness/wheels shodan
ln -sf /opt/recon-harness/shodan/bin/shodan /usr/local/bin/shodan
# theHarvester 4.6.0 (when build-box.sh baked its wheels in), offline, in the cached venv the atomic
# uses (its input harvester_venv); the marker is what harness.packages.theharvester writes.
if ls /opt/recon-harness/wheels/[tT]he[hH]arvester-4.6.0-*.whl >/dev/null 2>&1; then
  install -d /var/cache/recon-harness
  python3 -m venv /var/cache/recon-harness/theHarvester-4.6.0
  /var/cache/recon-harness/theHarvester-4.6.0/bin/pip install --quiet --no-index \
    --find-links /opt/recon-harness/wheels theHarvester==4.6.0
  echo "theHarvester 4.6.0 wheels" > /var/cache/recon-harness/theHarvester-4.6.0/.recon-harness-installed
fi
rm -rf /opt/recon-harness/wheels

# Smaller image.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log

#!/bin/busybox sh
# /init of Corral's test guest (built by scripts/test-guest.sh). Everything it reports goes to
# the console (console=ttyS0) as lines starting with CORRAL_, which the tests wait for.
#
# Knobs on the kernel command line:
#   corral.ip=A.B.C.D/NN    address for eth0 (corral.ip2= for eth1): the guest answers ping
#   corral.acpi=0           no acpid: an ACPI power button (system_powerdown) is ignored
#   corral.poweroff=N       power off N seconds after CORRAL_READY
#   corral.dirty=MIB        after CORRAL_READY, keep dirtying MIB MiB of memory ...
#   corral.rate=MIBPS       ... at this rate (0, the default: as fast as possible)
#   corral.md5=1            print the md5 of vda's first 64 MiB before CORRAL_READY
#   corral.ping=A.B.C.D     after CORRAL_READY, ping that address once a second until it answers
#   corral.diskwrite=1      after CORRAL_READY, write 1 MiB of random data to vda once a second,
#                           round robin over MiB 64..79, each write synced before it is reported
#
# Markers:
#   CORRAL_BOOT uptime=S                      /init started
#   CORRAL_INSMOD_FAIL MODULE: ERROR          a kernel module did not load
#   CORRAL_DISK vdX sectors=N                 disks present at boot
#   CORRAL_NIC ethN mac=M                     NICs present at boot
#   CORRAL_NET ethN ip=A.B.C.D/NN             an address was configured (CORRAL_NET_FAIL if not)
#   CORRAL_MD5 vda HEX                        with corral.md5=1
#   CORRAL_READY uptime=S                     all of the above done
#   CORRAL_HB n=N uptime=S                    every 2 s
#   CORRAL_DISK_RESIZED vdX sectors=N         polled once a second
#   CORRAL_DISK_ADDED vdX sectors=N / CORRAL_DISK_REMOVED vdX
#   CORRAL_NIC_ADDED ethN mac=M / CORRAL_NIC_REMOVED ethN
#   CORRAL_POWERDOWN uptime=S                 the ACPI power button was pressed; powering off
#   CORRAL_SELF_POWEROFF uptime=S             corral.poweroff=N elapsed; powering off
#   CORRAL_DIRTIER_START / CORRAL_DIRTY ...   from the dirtier (corral.dirty=)
#   CORRAL_PING_OK A.B.C.D                    corral.ping= answered (tried for 60 s)
#   CORRAL_DISKW n=N mib=M md5=HEX            corral.diskwrite=1: write N (at MiB M) is on the disk

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /etc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The kernel opened /dev/console from its built-in initramfs; reopen it on devtmpfs so output
# cannot be lost whichever /dev the kernel found.
exec </dev/console >/dev/console 2>&1

uptime_s() { read -r UP _ </proc/uptime; }
say() { uptime_s; echo "$* uptime=$UP"; }

say CORRAL_BOOT

IP= IP2= ACPI=1 POWEROFF= DIRTY= RATE=0 MD5= PING= DISKW=
read -r CMDLINE </proc/cmdline
for arg in $CMDLINE; do
  case "$arg" in
    corral.ip=*) IP=${arg#*=} ;;
    corral.ip2=*) IP2=${arg#*=} ;;
    corral.acpi=*) ACPI=${arg#*=} ;;
    corral.poweroff=*) POWEROFF=${arg#*=} ;;
    corral.dirty=*) DIRTY=${arg#*=} ;;
    corral.rate=*) RATE=${arg#*=} ;;
    corral.md5=*) MD5=${arg#*=} ;;
    corral.ping=*) PING=${arg#*=} ;;
    corral.diskwrite=*) DISKW=${arg#*=} ;;
  esac
done

# Modules in dependency order, as the build resolved them from the kernel's modules.dep.
while read -r mod; do
  insmod "/lib/modules/$mod.ko" 2>/tmp/insmod.err || echo "CORRAL_INSMOD_FAIL $mod: $(cat /tmp/insmod.err)"
done </lib/modules/load-order

# A device can show up a little after its driver's insmod returned: wait (bounded) for the ones
# a knob needs.
wait_for() { # PATH TENTHS
  i=0
  while [ ! -e "$1" ] && [ "$i" -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
  [ -e "$1" ]
}

mac_of() { read -r MAC <"/sys/class/net/$1/address"; }

# State of the poll loop: the size of each disk seen (SIZE_vdX) and the lists of names seen.
DISKS=" " NICS=" "
for b in /sys/block/vd*; do
  [ -e "$b/size" ] || continue
  d=${b##*/}
  read -r s <"$b/size"
  eval "SIZE_$d=$s"
  DISKS="$DISKS$d "
  echo "CORRAL_DISK $d sectors=$s"
done
for n in /sys/class/net/eth*; do
  [ -e "$n" ] || continue
  nic=${n##*/}
  mac_of "$nic"
  NICS="$NICS$nic "
  echo "CORRAL_NIC $nic mac=$MAC"
done

ip link set lo up
configure_nic() { # DEV ADDRESS
  if wait_for "/sys/class/net/$1" 50 && ip addr add "$2" dev "$1" && ip link set "$1" up; then
    echo "CORRAL_NET $1 ip=$2"
  else
    echo "CORRAL_NET_FAIL $1 ip=$2"
  fi
}
[ -n "$IP" ] && configure_nic eth0 "$IP"
[ -n "$IP2" ] && configure_nic eth1 "$IP2"

if [ "$ACPI" != 0 ]; then
  # busybox acpid maps the power button's key to PWRF/00000080 and runs that file from its
  # config directory.
  mkdir -p /etc/acpi/PWRF
  cat >/etc/acpi/PWRF/00000080 <<'HANDLER'
#!/bin/sh
read -r UP _ </proc/uptime
echo "CORRAL_POWERDOWN uptime=$UP" >/dev/console
sync
poweroff -f
HANDLER
  chmod 755 /etc/acpi/PWRF/00000080
  # acpid opens the /dev/input/event* nodes that exist when it starts, so the power button's
  # node must be there first.
  button=
  i=0
  while [ -z "$button" ] && [ "$i" -lt 50 ]; do
    for e in /sys/class/input/event*; do
      [ -e "$e/device/name" ] || continue
      read -r name <"$e/device/name"
      [ "$name" = "Power Button" ] && [ -e "/dev/input/${e##*/}" ] && button=${e##*/}
    done
    [ -n "$button" ] || { sleep 0.1; i=$((i + 1)); }
  done
  [ -n "$button" ] || echo "CORRAL_ACPI_FAIL no power button input device"
  # Without /etc/acpid.conf and /etc/acpi.map acpid uses its built-in tables (the PWRF one).
  acpid -d -c /etc/acpi >/tmp/acpid.log 2>&1 &
fi

if [ "$MD5" = 1 ]; then
  if [ -e /dev/vda ]; then
    set -- $(dd if=/dev/vda bs=1M count=64 2>/dev/null | md5sum)
    echo "CORRAL_MD5 vda $1"
  else
    echo "CORRAL_MD5_FAIL no vda"
  fi
fi

say CORRAL_READY

if [ -n "$POWEROFF" ]; then
  (sleep "$POWEROFF"; say CORRAL_SELF_POWEROFF; sync; poweroff -f) &
fi
if [ -n "$DIRTY" ] && [ "$DIRTY" != 0 ]; then
  /bin/corral-dirtier "$DIRTY" "$RATE" &
fi
if [ -n "$PING" ]; then
  (i=0; while [ "$i" -lt 60 ]; do
     ping -c 1 -W 1 "$PING" >/dev/null 2>&1 && { echo "CORRAL_PING_OK $PING"; break; }
     sleep 1; i=$((i + 1))
   done) &
fi
if [ "$DISKW" = 1 ]; then
  (n=0; while :; do
     n=$((n + 1)); mib=$((64 + n % 16))
     dd if=/dev/urandom of=/tmp/diskw bs=1M count=1 2>/dev/null
     dd if=/tmp/diskw of=/dev/vda bs=1M seek="$mib" count=1 conv=fsync 2>/dev/null &&
       { set -- $(md5sum /tmp/diskw); echo "CORRAL_DISKW n=$n mib=$mib md5=$1"; }
     sleep 1
   done) &
fi
(n=0; while :; do sleep 2; n=$((n + 1)); say "CORRAL_HB n=$n"; done) &

# Poll for disks and NICs that change, come or go. Reads use shell builtins so an idle loop
# costs one fork (sleep) a second.
while :; do
  sleep 1
  seen=" "
  for b in /sys/block/vd*; do
    [ -e "$b/size" ] || continue
    d=${b##*/}
    read -r s <"$b/size"
    seen="$seen$d "
    case "$DISKS" in
      *" $d "*)
        eval "old=\$SIZE_$d"
        [ "$s" != "$old" ] && echo "CORRAL_DISK_RESIZED $d sectors=$s" ;;
      *) echo "CORRAL_DISK_ADDED $d sectors=$s" ;;
    esac
    eval "SIZE_$d=$s"
  done
  for d in $DISKS; do
    case "$seen" in *" $d "*) ;; *) echo "CORRAL_DISK_REMOVED $d" ;; esac
  done
  DISKS=$seen

  seen=" "
  for n in /sys/class/net/eth*; do
    [ -e "$n" ] || continue
    nic=${n##*/}
    seen="$seen$nic "
    case "$NICS" in
      *" $nic "*) ;;
      *) mac_of "$nic"; echo "CORRAL_NIC_ADDED $nic mac=$MAC" ;;
    esac
  done
  for nic in $NICS; do
    case "$seen" in *" $nic "*) ;; *) echo "CORRAL_NIC_REMOVED $nic" ;; esac
  done
  NICS=$seen
done

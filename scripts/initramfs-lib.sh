# shellcheck shell=bash
# Helpers shared by mkinitramfs.sh and mktesthost.sh (sourced, not run).
# Both images are the same recipe: busybox-static, a few kernel modules
# in load order, an /init script, packed reproducibly.

# newest_kernel cloud|generic: print the newest installed version string.
# The generic pattern wants a digit before "-amd64" so it skips "cloud-amd64".
newest_kernel() {
    local pat
    case $1 in
        cloud)   pat='/boot/vmlinuz-*-cloud-amd64' ;;
        generic) pat='/boot/vmlinuz-*[0-9]-amd64' ;;
        *) echo "newest_kernel: unknown flavour $1" >&2; return 2 ;;
    esac
    # shellcheck disable=SC2086  # the pattern must glob
    ls -1 $pat 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1
}

# module_paths KVER NAME...: print modules.dep paths of NAME and all their
# dependencies, dependencies first, each once.  modules.dep lists a module's
# dependencies so that loading them last-to-first works (as modprobe does).
# Module names match with '-' and '_' treated alike (virtio_rng is virtio-rng.ko).
# Names the kernel does not have as modules (built in, or absent) are skipped.
module_paths() {
    local kver=$1; shift
    awk -v want="$*" '
        function norm(p,   b) { b = p; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b)
                                gsub(/-/, "_", b); return b }
        function emit(p) { if (!(p in seen)) { seen[p] = 1; print p } }
        BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { gsub(/-/, "_", w[i]); order[i] = w[i] } }
        {
            mod = $1; sub(/:$/, "", mod)
            deps[norm(mod)] = $0; path[norm(mod)] = mod
        }
        END {
            for (i = 1; i <= n; i++) {
                name = order[i]
                if (!(name in path)) continue
                m = split(deps[name], d, " ")
                for (j = m; j >= 2; j--) emit(d[j])
                emit(path[name])
            }
        }' "/lib/modules/$kver/modules.dep"
}

# stage_modules KVER DIR NAME...: copy the modules (uncompressed, since busybox
# insmod reads plain ELF) to DIR/lib/modules and write DIR/lib/modules/load-order.
stage_modules() {
    local kver=$1 dir=$2 src dst base; shift 2
    mkdir -p "$dir/lib/modules"
    : >"$dir/lib/modules/load-order"
    while read -r rel; do
        src=/lib/modules/$kver/$rel
        base=${rel##*/}; base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
        dst=$dir/lib/modules/$base
        case $rel in
            *.xz)  xz -dc "$src" >"$dst" ;;
            *.zst) zstd -qdc "$src" >"$dst" ;;
            *.gz)  gzip -dc "$src" >"$dst" ;;
            *)     cp "$src" "$dst" ;;
        esac
        echo "/lib/modules/$base" >>"$dir/lib/modules/load-order"
    done < <(module_paths "$kver" "$@")
}

# stage_busybox DIR: a root with busybox-static and a link per applet.
stage_busybox() {
    local dir=$1 applet
    mkdir -p "$dir"/{bin,dev,etc,proc,sys,tmp,run,root,mnt,usr}
    ln -s bin "$dir/sbin"; ln -s ../bin "$dir/usr/bin"; ln -s ../bin "$dir/usr/sbin"
    cp /bin/busybox "$dir/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
    done
    # The kernel opens /dev/console for init before anything is mounted;
    # without the node init would start with no stdout.  Needs root.
    mknod -m 600 "$dir/dev/console" c 5 1 2>/dev/null || true
}

# pack_cpio DIR OUT: newc archive with fixed owners, times and order, so the
# same inputs give the same bytes.  Written aside and renamed, so an
# interrupted build never leaves a truncated image behind.
pack_cpio() {
    local dir=$1 out=$2
    find "$dir" -exec touch -h -d @0 {} +
    (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
        cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n >"$out.tmp"
    mv -f "$out.tmp" "$out"
}

# extract_vmlinux BZIMAGE OUT: the uncompressed ELF kernel inside a bzImage.
# QEMU boots it through its PVH entry point, which skips the in-guest
# decompression: about 2.5 s saved per boot under TCG.  Returns 1 when no
# payload is found, and the caller falls back to the bzImage.
extract_vmlinux() {
    local in=$1 out=$2 fmt magic off
    for fmt in 'lz4:\x02\x21\x4c\x18' 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
        magic=${fmt#*:} fmt=${fmt%%:*}
        off=$(LC_ALL=C grep -obUaP -m1 "$magic" "$in" | LC_ALL=C cut -d: -f1 | sed -n 1p)
        [ -n "$off" ] || continue
        # The payload is followed by other data, so the decompressor complains
        # at the end; what counts is that an ELF file came out.
        tail -c +$((off + 1)) "$in" | "$fmt" -dc >"$out.tmp" 2>/dev/null || true
        if [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
            mv -f "$out.tmp" "$out"
            return 0
        fi
    done
    rm -f "$out.tmp"
    return 1
}

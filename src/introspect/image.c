#include "introspect/image.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define ISP_IMAGE_FILE_MAX (1ULL << 30)
#define ISP_IMAGE_DEPTH 64
#define ISP_IMAGE_PATH 4096

struct isp_image {
    pthread_mutex_t lock;   /* libext2fs handles are not thread-safe */
    ext2_filsys fs;
};

int isp_image_open(const char *path, struct isp_image **out, char *err, size_t errlen)
{
    struct isp_image *img = calloc(1, sizeof(*img));
    errcode_t e;

    if (!img)
        return -ENOMEM;
    /* read-only: flags without EXT2_FLAG_RW */
    e = ext2fs_open2(path, NULL, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &img->fs);
    if (e) {
        snprintf(err, errlen, "%s: not an ext2/3/4 image (libext2fs error %ld)", path, (long)e);
        free(img);
        return -EINVAL;
    }
    /* The guest writes the image under us: no block cache to go stale
     * (the inode cache is dropped before each lookup). */
    if (io_channel_set_options(img->fs->io, "cache=off"))
        log_warn("%s: cannot turn libext2fs's block cache off: hashes may describe "
                 "older contents", path);
    pthread_mutex_init(&img->lock, NULL);
    *out = img;
    return 0;
}

void isp_image_close(struct isp_image *img)
{
    if (!img)
        return;
    ext2fs_close_free(&img->fs);
    pthread_mutex_destroy(&img->lock);
    free(img);
}

static int image_hash_ino(ext2_filsys fs, ext2_ino_t ino, uint8_t sha[ISP_SHA256_LEN])
{
    struct sha256_ctx md;
    ext2_file_t f = NULL;
    char buf[65536];
    __u64 size = 0, done = 0;
    unsigned got;
    int ret = -EIO;

    if (ext2fs_file_open(fs, ino, 0, &f) || ext2fs_file_get_lsize(f, &size))
        goto out;
    ret = -EFBIG;
    if (size > ISP_IMAGE_FILE_MAX)
        goto out;
    ret = -EIO;
    sha256_init(&md);
    while (done < size) {
        if (ext2fs_file_read(f, buf, sizeof(buf), &got) || !got)
            goto out;
        sha256_update(&md, got, (const uint8_t *)buf);
        done += got;
    }
    sha256_digest(&md, SHA256_DIGEST_SIZE, sha);
    ret = 0;
out:
    if (f)
        ext2fs_file_close(f);
    return ret;
}

int isp_image_hash(struct isp_image *img, const char *path, uint8_t sha[ISP_SHA256_LEN])
{
    struct ext2_inode inode;
    ext2_ino_t ino;
    int ret;

    if (path[0] != '/')
        return -EINVAL;
    pthread_mutex_lock(&img->lock);
    ext2fs_flush_icache(img->fs);
    if (ext2fs_namei_follow(img->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino))
        ret = -ENOENT;
    else if (ext2fs_read_inode(img->fs, ino, &inode))
        ret = -EIO;
    else if (!LINUX_S_ISREG(inode.i_mode))
        ret = -EISDIR;
    else
        ret = image_hash_ino(img->fs, ino, sha);
    pthread_mutex_unlock(&img->lock);
    return ret;
}

struct walk {
    struct isp_image *img;
    isp_image_fn fn;
    void *ctx;
    char path[ISP_IMAGE_PATH];
    unsigned depth;
    int err;
};

static int walk_dir(struct walk *w, ext2_ino_t dir);

static int walk_entry(struct ext2_dir_entry *d, int offset, int blocksize, char *buf,
                      void *priv)
{
    struct walk *w = priv;
    unsigned len = ext2fs_dirent_name_len(d);
    size_t base = strlen(w->path);
    struct ext2_inode inode;
    uint8_t sha[ISP_SHA256_LEN];

    (void)offset, (void)blocksize, (void)buf;
    if ((len == 1 && d->name[0] == '.') || (len == 2 && !memcmp(d->name, "..", 2)))
        return 0;
    if (base + 1 + len >= sizeof(w->path) || ext2fs_read_inode(w->img->fs, d->inode, &inode))
        return 0;   /* too deep a name, or unreadable: skip it */
    w->path[base] = '/';
    memcpy(w->path + base + 1, d->name, len);
    w->path[base + 1 + len] = '\0';
    if (LINUX_S_ISDIR(inode.i_mode) && w->depth < ISP_IMAGE_DEPTH) {
        w->depth++;
        walk_dir(w, d->inode);
        w->depth--;
    } else if (LINUX_S_ISREG(inode.i_mode) && (inode.i_mode & 0111) &&
               !image_hash_ino(w->img->fs, d->inode, sha)) {
        w->fn(w->ctx, w->path, sha);
    }
    w->path[base] = '\0';
    return 0;
}

static int walk_dir(struct walk *w, ext2_ino_t dir)
{
    return ext2fs_dir_iterate(w->img->fs, dir, 0, NULL, walk_entry, w) ? -EIO : 0;
}

int isp_image_walk_exec(struct isp_image *img, isp_image_fn fn, void *ctx)
{
    struct walk *w = calloc(1, sizeof(*w));
    int ret;

    if (!w)
        return -ENOMEM;
    w->img = img;
    w->fn = fn;
    w->ctx = ctx;
    pthread_mutex_lock(&img->lock);
    ret = walk_dir(w, EXT2_ROOT_INO);
    pthread_mutex_unlock(&img->lock);
    free(w);
    return ret;
}

/* ---- kvmm allowlist ----------------------------------------------------- */

static void allowlist_add(void *ctx, const char *path, const uint8_t sha[ISP_SHA256_LEN])
{
    cJSON *files = ctx, *o = cJSON_CreateObject();
    char hex[2 * ISP_SHA256_LEN + 1];

    isp_sha256_to_hex(sha, hex);
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "sha256", hex);
    cJSON_AddItemToArray(files, o);
}

static const char allowlist_usage[] =
    "Usage: kvmm allowlist IMAGE [-o OUT]\n"
    "\n"
    "Hash every executable regular file of an ext2/3/4 image (read-only)\n"
    "and write the allowlist the introspection policy reads, as JSON, to\n"
    "OUT or stdout.\n";

int isp_allowlist_main(int argc, char **argv)
{
    const char *image = NULL, *out = NULL;
    struct isp_image *img;
    cJSON *root, *files;
    char err[512], *text;
    FILE *f;
    int ret;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(allowlist_usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-' && !image)
            image = argv[i];
        else {
            fprintf(stderr, "kvmm allowlist: bad argument '%s'\n%s", argv[i], allowlist_usage);
            return 2;
        }
    }
    if (!image) {
        fprintf(stderr, "kvmm allowlist: IMAGE is required\n%s", allowlist_usage);
        return 2;
    }
    if (isp_image_open(image, &img, err, sizeof(err))) {
        fprintf(stderr, "kvmm allowlist: %s\n", err);
        return 1;
    }
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "image", image);
    files = cJSON_AddArrayToObject(root, "files");
    ret = isp_image_walk_exec(img, allowlist_add, files);
    isp_image_close(img);
    text = ret ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "kvmm allowlist: %s: cannot read the file system\n", image);
        return 1;
    }
    f = out ? fopen(out, "we") : stdout;
    ret = !f || fprintf(f, "%s\n", text) < 0 || (out && fclose(f));
    if (ret)
        fprintf(stderr, "kvmm allowlist: cannot write %s\n", out ? out : "stdout");
    free(text);
    return ret;
}

/*
 * resize_stb: resize an image with stb (Debian libstb-dev): PNG or JPEG on stdin,
 * PNG on stdout.
 *
 * Usage: resize_stb WIDTH HEIGHT [FILTER]
 *
 * The image is scaled to fit within WIDTH x HEIGHT (each 1..16384), keeping its aspect
 * ratio, with the same fit and rounding rule as the Rust `resize` job (image 0.25
 * `resize_dimensions`, fill = false): ratio = min(WIDTH / w, HEIGHT / h) in double
 * precision, each side round(side * ratio) (half away from zero), at least 1.
 * FILTER is one of box, triangle (default, like the Rust job), cubicbspline, catmullrom,
 * mitchell (stb_image_resize v1 filters); edges are clamped, values are resized as
 * linear (no sRGB conversion) and an alpha channel is premultiplied during the resize.
 * The decoded channel count is kept (grey, grey + alpha, RGB, RGBA; 16-bit PNGs are
 * reduced to 8 bits by stb_image).
 *
 * Deterministic: no threads, clock or randomness; integer and IEEE float arithmetic
 * only (build with -ffp-contract=off and STBI_NO_SIMD so the wasm32-wasi module and the
 * native reference run the same operations and print the same bytes).
 *
 * Exit codes: 0 ok; 2 bad arguments (usage on stderr); 1 read, decode, resize or
 * encode error (message on stderr).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libstb-dev's headers (/usr/include/stb, on the include path of both builds). */
#define STBI_NO_SIMD
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STB_IMAGE_IMPLEMENTATION
#include "stb_image.h"

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include "stb_image_resize.h"

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"

#define MAX_SIDE 16384u
#define MAX_INPUT_BYTES (256u * 1024u * 1024u) /* bytes read from stdin at most */

static const char USAGE[] =
    "usage: resize_stb WIDTH HEIGHT [box|triangle|cubicbspline|catmullrom|mitchell]\n";

/* A side in 1..MAX_SIDE, like Rust's `str::parse::<u32>` (optional '+', digits only). */
static int parse_side(const char *text, unsigned *out) {
    const char *p = text;
    unsigned long value = 0;
    if (*p == '+') {
        p++;
    }
    if (*p == '\0') {
        return 0;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
        value = value * 10u + (unsigned long)(*p - '0');
        if (value > MAX_SIDE) {
            return 0;
        }
    }
    if (value < 1) {
        return 0;
    }
    *out = (unsigned)value;
    return 1;
}

static int parse_filter(const char *name, stbir_filter *out) {
    static const struct {
        const char *name;
        stbir_filter filter;
    } filters[] = {
        {"box", STBIR_FILTER_BOX},
        {"triangle", STBIR_FILTER_TRIANGLE},
        {"cubicbspline", STBIR_FILTER_CUBICBSPLINE},
        {"catmullrom", STBIR_FILTER_CATMULLROM},
        {"mitchell", STBIR_FILTER_MITCHELL},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        if (strcmp(name, filters[i].name) == 0) {
            *out = filters[i].filter;
            return 1;
        }
    }
    return 0;
}

/* The Rust job's rule: image 0.25 `resize_dimensions(w, h, nw, nh, false)`. */
static void fit(unsigned w, unsigned h, unsigned nw, unsigned nh, unsigned *ow, unsigned *oh) {
    double wratio = (double)nw / (double)w;
    double hratio = (double)nh / (double)h;
    double ratio = wratio < hratio ? wratio : hratio;
    double fw = round((double)w * ratio);
    double fh = round((double)h * ratio);
    *ow = fw < 1.0 ? 1u : (unsigned)fw;
    *oh = fh < 1.0 ? 1u : (unsigned)fh;
}

/* All of stdin; NULL (message on stderr) on a read error or more than MAX_INPUT_BYTES bytes. */
static unsigned char *read_all(FILE *in, size_t *len) {
    size_t cap = 1u << 16, used = 0;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        fputs("resize_stb: read error: out of memory\n", stderr);
        return NULL;
    }
    for (;;) {
        if (used == cap) {
            unsigned char *bigger;
            if (cap >= MAX_INPUT_BYTES) {
                fputs("resize_stb: read error: input too large\n", stderr);
                free(buf);
                return NULL;
            }
            cap *= 2;
            bigger = realloc(buf, cap);
            if (bigger == NULL) {
                fputs("resize_stb: read error: out of memory\n", stderr);
                free(buf);
                return NULL;
            }
            buf = bigger;
        }
        size_t got = fread(buf + used, 1, cap - used, in);
        used += got;
        if (got == 0) {
            if (ferror(in)) {
                fputs("resize_stb: read error: cannot read stdin\n", stderr);
                free(buf);
                return NULL;
            }
            break;
        }
    }
    *len = used;
    return buf;
}

static void write_stdout(void *context, void *data, int size) {
    int *failed = context;
    if (size > 0 && fwrite(data, 1, (size_t)size, stdout) != (size_t)size) {
        *failed = 1;
    }
}

int main(int argc, char **argv) {
    unsigned width, height, out_w, out_h;
    stbir_filter filter = STBIR_FILTER_TRIANGLE;
    if (argc < 3 || argc > 4 || !parse_side(argv[1], &width) || !parse_side(argv[2], &height) ||
        (argc == 4 && !parse_filter(argv[3], &filter))) {
        fputs(USAGE, stderr);
        return 2;
    }

    size_t len = 0;
    unsigned char *input = read_all(stdin, &len);
    if (input == NULL) {
        return 1;
    }
    if (len > (size_t)0x7fffffff) {
        fputs("resize_stb: decode error: input too large\n", stderr);
        free(input);
        return 1;
    }
    int w = 0, h = 0, channels = 0;
    unsigned char *pixels = stbi_load_from_memory(input, (int)len, &w, &h, &channels, 0);
    free(input);
    if (pixels == NULL) {
        /* stb_image leaves no reason when its zlib buffer cannot be allocated. */
        const char *why = stbi_failure_reason();
        fprintf(stderr, "resize_stb: decode error: %s\n", why ? why : "out of memory");
        return 1;
    }

    fit((unsigned)w, (unsigned)h, width, height, &out_w, &out_h);
    unsigned char *resized = malloc((size_t)out_w * out_h * (size_t)channels);
    if (resized == NULL) {
        fputs("resize_stb: resize error: out of memory\n", stderr);
        stbi_image_free(pixels);
        return 1;
    }
    int alpha = channels == 2 ? 1 : channels == 4 ? 3 : STBIR_ALPHA_CHANNEL_NONE;
    int ok = stbir_resize_uint8_generic(pixels, w, h, 0, resized, (int)out_w, (int)out_h, 0,
                                        channels, alpha, 0, STBIR_EDGE_CLAMP, filter,
                                        STBIR_COLORSPACE_LINEAR, NULL);
    stbi_image_free(pixels);
    if (!ok) {
        fputs("resize_stb: resize error: stb_image_resize failed\n", stderr);
        free(resized);
        return 1;
    }

    int failed = 0;
    ok = stbi_write_png_to_func(write_stdout, &failed, (int)out_w, (int)out_h, channels, resized,
                                (int)out_w * channels);
    free(resized);
    if (!ok || failed || fflush(stdout) != 0) {
        fputs("resize_stb: encode error: cannot write the PNG\n", stderr);
        return 1;
    }
    return 0;
}

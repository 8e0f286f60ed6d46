/*
 * The CRI fast path in C (observe/logs/cri_native.py loads it; observe/logs/fastpath.py is the reference).
 *
 * observe_cri_items() turns whole `F` lines of a chunk into bulk items, exactly the bytes ship_cri() writes for
 * them: `parts[0] <offset hex> parts[1] <timestamp> parts[2] <message as a JSON string> parts[3] <offset decimal>
 * parts[4] <stream> parts[5]`. It stops before the first line the fast path does not take (a partial line, another
 * stream or tag, an overlong message, a timestamp that is not RFC 3339 in UTC, a message that is not valid UTF-8),
 * so that line goes through the Python decoder and encoder, and stops when `out` could overflow.
 *
 * Plain C99 with no Python headers, loaded with ctypes: it builds with any C compiler, also in the image's build
 * stage (zig cc from PyPI), and the interpreter is not involved until the caller slices the items out.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* [0-9][0-9:.TZtz+\-]{9,39}, the whole field (decode.py's TIMESTAMP), ending in Z (ship_cri's UTC test). */
static int utc_timestamp(const uint8_t *p, size_t n) {
    if (n < 10 || n > 40 || p[0] < '0' || p[0] > '9' || p[n - 1] != 'Z') return 0;
    for (size_t i = 1; i < n; i++) {
        uint8_t c = p[i];
        if (!((c >= '0' && c <= '9') || c == ':' || c == '.' || c == 'T' || c == 'Z' || c == 't' || c == 'z' ||
              c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

/* Eight bytes at a time (SWAR): a word is skipped or copied whole when no byte in it needs a closer look. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HAS_ZERO(x) (((x) - ONES) & ~(x) & HIGHS)
#define HAS_LESS(x, n) (((x) - ONES * (n)) & ~(x) & HIGHS)

static uint64_t word(const uint8_t *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* Strict UTF-8 as Python's decoder takes it: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n && !(word(p + i) & HIGHS)) { i += 8; continue; }  /* eight ASCII bytes */
        uint8_t c = p[i];
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (p[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n) return 0;
            uint8_t c1 = p[i + 1];
            if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && c1 < 0xA0) return 0;  /* overlong */
            if (c == 0xED && c1 > 0x9F) return 0;  /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n) return 0;
            uint8_t c1 = p[i + 1];
            if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 || (p[i + 3] & 0xC0) != 0x80) return 0;
            if (c == 0xF0 && c1 < 0x90) return 0;  /* overlong */
            if (c == 0xF4 && c1 > 0x8F) return 0;  /* above U+10FFFF */
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static const char HEX[] = "0123456789abcdef";

/* The message as orjson writes a str: `"` and `\` escaped, C0 controls as \b \t \n \f \r or \u00xx, the rest as is. */
static uint8_t *json_string(uint8_t *o, const uint8_t *p, size_t n) {
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t x = word(p + i);
            if (!(HAS_LESS(x, 0x20) | HAS_ZERO(x ^ (ONES * '"')) | HAS_ZERO(x ^ (ONES * '\\')))) {
                memcpy(o, p + i, 8);
                o += 8;
                i += 8;
                continue;
            }
        }
        uint8_t c = p[i++];
        if (c >= 0x20 && c != '"' && c != '\\') { *o++ = c; continue; }
        *o++ = '\\';
        switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\t': *o++ = 't'; break;
            case '\n': *o++ = 'n'; break;
            case '\f': *o++ = 'f'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
        }
    }
    *o++ = '"';
    return o;
}

static uint8_t *put(uint8_t *o, const uint8_t *p, size_t n) {
    memcpy(o, p, n);
    return o + n;
}

static uint8_t *unsigned_text(uint8_t *o, uint64_t v, unsigned base) {
    uint8_t tmp[24];
    size_t k = 0;
    do { tmp[k++] = (uint8_t)HEX[v % base]; v /= base; } while (v);
    while (k) *o++ = tmp[--k];
    return o;
}

/*
 * buf[start:len] holds complete lines, each ending in '\n'. `parts` is the six constant pieces back to back, their
 * lengths in `part_len`. Items go to `out` (capacity `out_cap`), each followed by a NUL byte, which no item holds
 * (every byte of it is JSON text or a validated timestamp, stream or number), so the caller splits them apart in
 * one call; `out_len` is the bytes written. Returns where it stopped: len when every line was taken, else the
 * start of the line it did not take, or could not fit (then `full` is 1: the caller gives it more room).
 */
size_t observe_cri_items(const uint8_t *buf, size_t len, size_t start, uint64_t base_offset, size_t limit,
                         const uint8_t *parts, const size_t *part_len, uint8_t *out, size_t out_cap,
                         size_t *out_len, int *full) {
    const uint8_t *part[6];
    size_t fixed = 0, at = 0;
    for (int k = 0; k < 6; k++) {
        part[k] = parts + at;
        at += part_len[k];
        fixed += part_len[k];
    }
    uint8_t *o = out;
    size_t pos = start;
    *full = 0;
    while (pos < len) {
        const uint8_t *line = buf + pos;
        const uint8_t *nl = memchr(line, '\n', len - pos);
        if (nl == NULL) break;
        size_t line_len = (size_t)(nl - line);
        /* The three fields before the message: timestamp, stream, tag; the message is the rest (may hold spaces). */
        const uint8_t *sp1 = memchr(line, ' ', line_len);
        if (sp1 == NULL) break;
        const uint8_t *stream = sp1 + 1;
        const uint8_t *sp2 = memchr(stream, ' ', (size_t)(nl - stream));
        if (sp2 == NULL) break;
        const uint8_t *tag = sp2 + 1;
        const uint8_t *sp3 = memchr(tag, ' ', (size_t)(nl - tag));
        if (sp3 == NULL) break;
        const uint8_t *msg = sp3 + 1;
        size_t ts_len = (size_t)(sp1 - line), stream_len = (size_t)(sp2 - stream), msg_len = (size_t)(nl - msg);
        if (sp3 - tag != 1 || tag[0] != 'F') break;
        if (!((stream_len == 6 && (memcmp(stream, "stdout", 6) == 0 || memcmp(stream, "stderr", 6) == 0)))) break;
        if (msg_len > limit || !utc_timestamp(line, ts_len) || !valid_utf8(msg, msg_len)) break;
        /* Worst case: every message byte escaped as \u00xx, two offsets of up to 20 digits each, the NUL. */
        if ((size_t)(o - out) + fixed + ts_len + stream_len + 6 * msg_len + 2 + 40 + 1 > out_cap) {
            *full = 1;
            break;
        }
        uint64_t offset = base_offset + (pos - start);
        o = put(o, part[0], part_len[0]);
        o = unsigned_text(o, offset, 16);
        o = put(o, part[1], part_len[1]);
        o = put(o, line, ts_len);
        o = put(o, part[2], part_len[2]);
        o = json_string(o, msg, msg_len);
        o = put(o, part[3], part_len[3]);
        o = unsigned_text(o, offset, 10);
        o = put(o, part[4], part_len[4]);
        o = put(o, stream, stream_len);
        o = put(o, part[5], part_len[5]);
        *o++ = 0;
        pos += line_len + 1;
    }
    *out_len = (size_t)(o - out);
    return pos;
}

/*
 * at_frames.is_frame() on bytes: an indented line whose body (after the ASCII whitespace bytes.lstrip strips) starts
 * with `at ` or `eval at `, is longer than 3 bytes, and does not end in ` {`.
 */
static int is_frame(const uint8_t *p, size_t len) {
    if (len == 0 || (p[0] != ' ' && p[0] != '\t')) return 0;
    size_t i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' || p[i] == 0x0b || p[i] == 0x0c))
        i++;
    const uint8_t *b = p + i;
    size_t n = len - i;
    int at = (n > 3 && memcmp(b, "at ", 3) == 0) || (n >= 8 && memcmp(b, "eval at ", 8) == 0);
    return at && !(b[n - 2] == ' ' && b[n - 1] == '{');
}

/*
 * The multiline processor's look at a chunk (observe/logs/process.py): for each of n messages (their lengths in
 * `lens`, their bytes back to back in `buf`), out[i] has bit 1 when none of the patterns occurs in it (the pre-check)
 * and bit 2 when it is an `at` frame (is_frame). The patterns (at most 64) are NUL-terminated and back to back in
 * `patterns`, `pattern_bytes` in all. Each position's two bytes are looked up in a bitmap of the patterns' first two
 * bytes (a one-byte pattern marks every pair it starts), then its first byte in a table of which patterns start
 * with it; only those are compared. Common letters start some trigger word, common pairs far fewer.
 */
void observe_classify(const uint8_t *buf, const uint32_t *lens, size_t n, const uint8_t *patterns,
                      size_t pattern_bytes, uint8_t *out) {
    const uint8_t *pat[64];
    size_t plen[64];
    uint64_t first[256] = {0};
    uint8_t pairs[8192] = {0};
    int np = 0;
    for (size_t at = 0; at < pattern_bytes && np < 64;) {
        size_t k = strlen((const char *)patterns + at);
        if (k) {
            const uint8_t *q = patterns + at;
            pat[np] = q;
            plen[np] = k;
            first[q[0]] |= (uint64_t)1 << np;
            for (unsigned b = 0; b < 256; b++) {
                if (k > 1 && b != q[1]) continue;
                unsigned key = q[0] | (b << 8);
                pairs[key >> 3] |= (uint8_t)(1u << (key & 7));
            }
            np++;
        }
        at += k + 1;
    }
    const uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        size_t len = lens[i];
        uint8_t free_of_all = 1;
        for (size_t j = 0; j < len && free_of_all; j++) {
            if (j + 1 < len) {
                unsigned key = p[j] | ((unsigned)p[j + 1] << 8);
                if (!(pairs[key >> 3] & (1u << (key & 7)))) continue;
            }
            uint64_t m = first[p[j]];
            while (m) {
                int k = __builtin_ctzll(m);
                m &= m - 1;
                if (plen[k] <= len - j && memcmp(p + j, pat[k], plen[k]) == 0) {
                    free_of_all = 0;
                    break;
                }
            }
        }
        out[i] = (uint8_t)(free_of_all | (is_frame(p, len) << 1));
        p += len;
    }
}

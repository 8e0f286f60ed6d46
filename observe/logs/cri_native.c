/*
 * The CRI fast path in C (observe/logs/cri_native.py loads it; observe/logs/fastpath.py is the reference).
 *
 * observe_cri_items() turns whole `F` lines of a chunk into bulk items, exactly the bytes ship_cri() writes for
 * them: `parts[0] <offset hex> parts[1] <timestamp> parts[2] <message as a JSON string> parts[3] <offset decimal>
 * parts[4] <stream> parts[5]`. It stops before the first line the fast path does not take (a partial line, another
 * stream or tag, an overlong message, a timestamp that is not RFC 3339 in UTC, a message that is not valid UTF-8),
 * so that line goes through the Python decoder and encoder, and stops when `out` could overflow.
 * observe_cri_nginx_items() and observe_cri_json_items() do the same for files with the nginx or json parser, and
 * also parse each line the way the Python parser does, or stop before it (nginx_fields(), json_parse()).
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

/* One byte of a str as orjson writes it: `"` and `\\` escaped, C0 controls as \\b \\t \\n \\f \\r or \\u00xx. */
static uint8_t *escaped_byte(uint8_t *o, uint8_t c) {
    if (c >= 0x20 && c != '"' && c != '\\') {
        *o++ = c;
        return o;
    }
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
    return o;
}

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
        o = escaped_byte(o, p[i++]);
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
 * The nginx parser (observe/logs/parsers.py NginxParser, the reference) for the lines it reads the same way
 * without backtracking: printable ASCII only, a request line `METHOD target[ HTTP/version]`, a client address
 * without an IPv6 scope or embedded IPv4 address, numbers of few enough digits that they fit a long and convert
 * exactly, and ingress upstream fields that can be read one way only (upstream()). nginx_fields() writes the parser's
 * fields as the encoder would (`,"source":...`, the keys in the dict's order) and returns the end, or NULL for a
 * line it does not take: that line goes through the Python parser, which also flags the ones that do not parse.
 */
typedef struct { const uint8_t *p; size_t n; } span;

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* \S+ on printable ASCII: the run up to the next space, at least one byte. */
static const uint8_t *token(const uint8_t *p, const uint8_t *end, span *s) {
    const uint8_t *q = p;
    while (q < end && *q != ' ') q++;
    if (q == p) return NULL;
    s->p = p;
    s->n = (size_t)(q - p);
    return q;
}

static const uint8_t *lit(const uint8_t *p, const uint8_t *end, const char *t) {
    size_t k = strlen(t);
    if (p == NULL || (size_t)(end - p) < k || memcmp(p, t, k) != 0) return NULL;
    return p + k;
}

/* "([^"\\]*(?:\\.[^"\\]*)*)": up to the first quote no backslash escapes; *escaped is set when it holds one. */
static const uint8_t *quoted(const uint8_t *p, const uint8_t *end, span *s, int *escaped) {
    if (p == NULL || p >= end || *p != '"') return NULL;
    const uint8_t *q = p + 1;
    while (q < end) {
        if (*q == '"') {
            s->p = p + 1;
            s->n = (size_t)(q - p - 1);
            return q + 1;
        }
        if (*q == '\\') {
            if (q + 1 >= end) return NULL;
            *escaped = 1;
            q += 2;
        } else {
            q++;
        }
    }
    return NULL;
}

/* [^\]]* then `]`: the bracketed text (empty when min is 0). */
static const uint8_t *bracketed(const uint8_t *p, const uint8_t *end, span *s, size_t min) {
    if (p == NULL) return NULL;
    const uint8_t *q = memchr(p, ']', (size_t)(end - p));
    if (q == NULL || (size_t)(q - p) < min) return NULL;
    s->p = p;
    s->n = (size_t)(q - p);
    return q + 1;
}

/* \d+|- : a number of at most 18 digits (so a long holds it; longer ones go to Python) or `-` (*value = -1). */
static const uint8_t *count(const uint8_t *p, const uint8_t *end, int64_t *value) {
    if (p == NULL || p >= end) return NULL;
    if (!is_digit(*p)) {
        if (*p != '-') return NULL;
        *value = -1;
        return p + 1;
    }
    int64_t v = 0;
    const uint8_t *q = p;
    while (q < end && is_digit(*q)) {
        if (q - p == 18) return NULL;
        v = v * 10 + (*q++ - '0');
    }
    *value = v;
    return q;
}

/* [\d.]+|- as round(float(text) * 1e9): taken only as digits{1,9}(.digits{1,9})? of at most 15 digits in all, whose
 * float() is the quotient of two doubles that hold them exactly (N < 10**15 < 2**53, 10**9), so the one IEEE division
 * rounds as Python's correctly rounded float() does; then ties to even, as Python's round(). */
static const uint8_t *seconds_ns(const uint8_t *p, const uint8_t *end, int64_t *ns) {
    if (p == NULL || p >= end) return NULL;
    if (*p == '-') {
        *ns = -1;
        return p + 1;
    }
    static const double scale[10] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    uint64_t n = 0;
    int whole = 0, frac = 0;
    const uint8_t *q = p;
    while (q < end && is_digit(*q) && whole <= 9) { n = n * 10 + (uint64_t)(*q++ - '0'); whole++; }
    if (whole == 0 || whole > 9) return NULL;
    if (q < end && *q == '.') {
        q++;
        while (q < end && is_digit(*q) && frac <= 9) { n = n * 10 + (uint64_t)(*q++ - '0'); frac++; }
        if (frac == 0 || frac > 9 || whole + frac > 15) return NULL;
    }
    if (q < end && (*q == '.' || is_digit(*q))) return NULL;
    volatile double seconds = (double)n / scale[frac];  /* volatile: no fused or reordered arithmetic */
    double x = seconds * 1e9;
    uint64_t r = (uint64_t)x;
    double rest = x - (double)r;
    if (rest > 0.5 || (rest == 0.5 && (r & 1))) r++;
    *ns = (int64_t)r;
    return q;
}

/* ipaddress.ip_address() on a text without `:` (so not IPv6): four dot-separated decimal octets of 1-3 ASCII digits,
 * no leading zero, each at most 255. */
static int ipv4(const uint8_t *p, size_t n) {
    const uint8_t *end = p + n;
    for (int k = 0; k < 4; k++) {
        const uint8_t *q = p;
        unsigned v = 0;
        while (q < end && is_digit(*q)) v = v * 10 + (unsigned)(*q++ - '0');
        size_t digits = (size_t)(q - p);
        if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && *p == '0')) return 0;
        if (k < 3) {
            if (q >= end || *q != '.') return 0;
            q++;
        } else if (q != end) {
            return 0;
        }
        p = q;
    }
    return 1;
}

/* ipaddress.ip_address() on a text of hex digits and colons (IPv6Address's parser, step for step): 1 when it is an
 * address, 0 when not. Its checks overlap (an empty part fails two of them), as Python's do; the test holds the
 * whole to ipaddress on generated addresses. */
static int ipv6(const uint8_t *p, size_t n) {
    size_t len[10];
    int parts = 0;
    for (const uint8_t *q = p, *end = p + n;; q++) {  /* ip_str.split(':'): the parts' lengths, at most 10 */
        const uint8_t *c = q;
        while (c < end && *c != ':') c++;
        if (parts == 10) return 0;
        len[parts++] = (size_t)(c - q);
        q = c;
        if (q == end) break;
    }
    if (parts < 3 || parts > 9) return 0;
    int skip = -1;
    for (int i = 1; i < parts - 1; i++) {
        if (len[i]) continue;
        if (skip >= 0) return 0;  /* at most one :: */
        skip = i;
    }
    int hi, lo;
    if (skip >= 0) {
        hi = skip;
        lo = parts - skip - 1;
        if (!len[0] && --hi) return 0;
        if (!len[parts - 1] && --lo) return 0;
        if (8 - (hi + lo) < 1) return 0;
    } else {
        if (parts != 8 || !len[0] || !len[parts - 1]) return 0;
        hi = parts;
        lo = 0;
    }
    for (int i = 0; i < parts; i++) {
        if (i >= hi && i < parts - lo) continue;  /* the parts IPv6Address reads: the first hi and the last lo */
        if (len[i] == 0 || len[i] > 4) return 0;
    }
    return 1;
}

static uint8_t *str(uint8_t *o, span s) { return json_string(o, s.p, s.n); }

static int dash(span s) { return s.n == 1 && s.p[0] == '-'; }

/* parsers._unescape: replace \" by ", then \\ by \ (two passes, as str.replace twice), into out; returns the span. */
static span unescape(span s, int escaped, uint8_t *out) {
    if (!escaped || memchr(s.p, '\\', s.n) == NULL) return s;
    uint8_t *o = out;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] == '\\' && i + 1 < s.n && s.p[i + 1] == '"') { *o++ = '"'; i++; }
        else *o++ = s.p[i];
    }
    size_t m = (size_t)(o - out);
    o = out;
    for (size_t i = 0; i < m; i++) {
        if (out[i] == '\\' && i + 1 < m && out[i + 1] == '\\') { *o++ = '\\'; i++; }
        else *o++ = out[i];
    }
    span r = {out, (size_t)(o - out)};
    return r;
}

static uint8_t *key(uint8_t *o, const char *k) { return put(o, (const uint8_t *)k, strlen(k)); }

/* An upstream field, `\S+(?:, \S+)*`: a token ending in `,` continues the list, the first that does not ends it.
 * When all four fields and the request id read so to the end of the line, no token can be read another way (each
 * field ends at one of the only four tokens before the id that do not end in `,`), so the regex, whatever it tries
 * first, finds the same fields. A list item needs a byte before its comma. */
static const uint8_t *upstream(const uint8_t *p, const uint8_t *end, span *s) {
    const uint8_t *start = p;
    for (;;) {
        span t;
        const uint8_t *q = token(p, end, &t);
        if (q == NULL) return NULL;
        if (t.p[t.n - 1] != ',') {
            s->p = start;
            s->n = (size_t)(q - start);
            return q;
        }
        if (t.n < 2 || q >= end || *q != ' ') return NULL;
        p = q + 1;
    }
}

/* The items of an upstream field, as the parser lists them: split at `, `, without the `-` ones. */
static size_t items(span s, span *item, size_t max) {
    size_t n = 0;
    const uint8_t *p = s.p, *end = s.p + s.n;
    while (p < end && n < max) {
        const uint8_t *c = p;
        while (c < end && !(*c == ',' && c + 1 < end && c[1] == ' ')) c++;
        span it = {p, (size_t)(c - p)};
        if (!dash(it)) item[n++] = it;
        p = c + 2;
    }
    return n;
}

static uint8_t *list_out(uint8_t *o, const span *item, size_t n) {
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        o = str(o, item[i]);
    }
    *o++ = ']';
    return o;
}


/* Longest message whose escaped fields nginx_fields() unescapes (on the stack); longer ones go to Python. */
#define NGINX_ESCAPED_MAX 4096

static uint8_t *nginx_fields(uint8_t *o, const uint8_t *m, size_t n) {
    const uint8_t *end = m + n, *p;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 0x20 || m[i] > 0x7e) return NULL;
    span none = {NULL, 0};
    span addr = none, user = none, time = none, request = none, referer = none, ua = none, up_name = none,
         up_alt = none, up[4] = {none, none, none, none}, req_id = none;
    int64_t status = 0, size = -1, req_len = -1, duration = -1;
    int escaped = 0;
    p = token(m, end, &addr);
    p = lit(p, end, " - ");
    if (p != NULL) p = token(p, end, &user);
    p = bracketed(lit(p, end, " ["), end, &time, 1);
    p = lit(quoted(lit(p, end, " "), end, &request, &escaped), end, " ");
    if (p == NULL || end - p < 4 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]) || p[3] != ' ') return NULL;
    status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p = count(p + 4, end, &size);
    p = quoted(lit(p, end, " "), end, &referer, &escaped);
    p = quoted(lit(p, end, " "), end, &ua, &escaped);
    if (p == NULL) return NULL;
    const uint8_t *q = p;
    while (q < end && *q == ' ') q++;
    int ingress = q < end;
    if (ingress) {
        p = count(lit(p, end, " "), end, &req_len);
        p = seconds_ns(lit(p, end, " "), end, &duration);
        p = bracketed(lit(p, end, " ["), end, &up_name, 0);
        p = bracketed(lit(p, end, " ["), end, &up_alt, 0);
        p = lit(p, end, " ");
        for (int k = 0; k < 4 && p != NULL; k++) p = lit(upstream(p, end, &up[k]), end, " ");
        if (p != NULL) p = token(p, end, &req_id);
        if (p == NULL) return NULL;
        while (p < end && *p == ' ') p++;
        if (p != end) return NULL;
    }
    if (escaped && n > NGINX_ESCAPED_MAX) return NULL;
    uint8_t room[3 * NGINX_ESCAPED_MAX];
    request = unescape(request, escaped, room);
    /* The request line: [A-Z]+ \S+( HTTP/[\d.]+)?, whole. Any other (a TLS handshake, garbage) goes to Python. */
    span method = {request.p, 0}, target, version = {NULL, 0};
    const uint8_t *r = request.p, *r_end = request.p + request.n;
    while (r < r_end && *r >= 'A' && *r <= 'Z') r++;
    method.n = (size_t)(r - request.p);
    if (method.n == 0 || r >= r_end || *r != ' ') return NULL;
    r = token(r + 1, r_end, &target);
    if (r == NULL) return NULL;
    if (r < r_end) {
        r = lit(r, r_end, " HTTP/");
        if (r == NULL || r == r_end) return NULL;
        version.p = r;
        while (r < r_end && (is_digit(*r) || *r == '.')) r++;
        if (r != r_end) return NULL;
        version.n = (size_t)(r - version.p);
    }
    int is_ip = -1;
    if (memchr(addr.p, ':', addr.n) == NULL) {
        is_ip = ipv4(addr.p, addr.n);
    } else {
        is_ip = 1;
        for (size_t i = 0; i < addr.n && is_ip; i++) {
            uint8_t c = addr.p[i];
            is_ip = c == ':' || is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        }
        is_ip = is_ip ? ipv6(addr.p, addr.n) : -1;
    }
    if (is_ip < 0) return NULL;  /* an IPv6 scope or an embedded IPv4 address: Python's ipaddress decides */
    o = key(o, is_ip ? ",\"source\":{\"ip\":" : ",\"source\":{\"address\":");
    o = str(o, addr);
    if (!dash(user)) {
        o = key(o, "},\"user\":{\"name\":");
        o = str(o, user);
    }
    o = key(o, "},\"http\":{\"request\":{\"method\":");
    o = str(o, method);
    if (referer.n && !dash(referer)) {
        o = key(o, ",\"referrer\":");
        o = str(o, unescape(referer, escaped, room + NGINX_ESCAPED_MAX));
    }
    if (ingress && req_len >= 0) {
        o = key(o, ",\"bytes\":");
        o = unsigned_text(o, (uint64_t)req_len, 10);
    }
    if (ingress && !dash(req_id)) {
        o = key(o, ",\"id\":");
        o = str(o, req_id);
    }
    o = key(o, "}");
    if (version.p != NULL) {
        o = key(o, ",\"version\":");
        o = str(o, version);
    }
    o = key(o, ",\"response\":{\"status_code\":");
    o = unsigned_text(o, (uint64_t)status, 10);
    if (size >= 0) {
        o = key(o, ",\"body\":{\"bytes\":");
        o = unsigned_text(o, (uint64_t)size, 10);
        o = key(o, "}");
    }
    o = key(o, "}},\"url\":{\"original\":");
    o = str(o, target);
    const uint8_t *mark = memchr(target.p, '?', target.n);
    span path = {target.p, mark != NULL ? (size_t)(mark - target.p) : target.n};
    o = key(o, ",\"path\":");
    o = str(o, path);
    if (mark != NULL && mark + 1 < target.p + target.n) {
        span query = {mark + 1, (size_t)(target.p + target.n - mark - 1)};
        o = key(o, ",\"query\":");
        o = str(o, query);
    }
    o = key(o, "}");
    if (ua.n && !dash(ua)) {
        o = key(o, ",\"user_agent\":{\"original\":");
        o = str(o, unescape(ua, escaped, room + 2 * NGINX_ESCAPED_MAX));
        o = key(o, "}");
    }
    o = key(o, ",\"nginx\":{\"access\":{\"time\":");
    o = str(o, time);
    o = key(o, "}");
    if (ingress) {
        int named = up_name.n && !dash(up_name), alt = up_alt.n && !dash(up_alt), any_response = 0;
        static const char *const response_keys[3] = {"\"length\":", "\"time\":", "\"status_code\":"};
        span item[4][32];
        size_t count[4];
        for (int k = 0; k < 4; k++) {
            count[k] = items(up[k], item[k], 32);
            if (count[k] == 32) return NULL;  /* 32 retries or more: Python lists them */
        }
        if (named || alt || count[0] || count[1] || count[2] || count[3]) {
            const char *sep = "";
            o = key(o, ",\"ingress_controller\":{\"upstream\":{");
            if (named) { o = key(o, "\"name\":"); o = str(o, up_name); sep = ","; }
            if (alt) { o = key(o, sep); o = key(o, "\"alternative_name\":"); o = str(o, up_alt); sep = ","; }
            if (count[0]) { o = key(o, sep); o = key(o, "\"address\":"); o = list_out(o, item[0], count[0]); sep = ","; }
            for (int k = 1; k < 4; k++) {
                if (!count[k]) continue;
                o = key(o, any_response ? "," : sep);
                if (!any_response) o = key(o, "\"response\":{");
                any_response = 1;
                o = key(o, response_keys[k - 1]);
                o = list_out(o, item[k], count[k]);
            }
            if (any_response) o = key(o, "}");
            o = key(o, "}}");
        }
    }
    o = key(o, "}");
    if (ingress && duration >= 0) {
        o = key(o, ",\"event\":{\"duration\":");
        o = unsigned_text(o, (uint64_t)duration, 10);
        o = key(o, "}");
    }
    return o;
}

/*
 * The json parser (observe/logs/parsers.py JsonParser, the reference) for the lines whose JSON orjson reads to the
 * same values without a question: an object of at most 64 members a level, 16 levels deep, keys without escapes and
 * none twice, integers of at most 18 digits (no -0), floats that orjson writes back as the same text (jfloat()),
 * strings whose \u escapes are not surrogates. json_parse() reads such a line into its top-level members and picks the
 * message and the ECS keys as JsonParser does; json_tail() writes the document the encoder writes for the result.
 * The keys come from Python (cri_native.py builds them from parsers._JSON_MESSAGE and _JSON_ECS), so the two lists
 * can't drift apart. A line it does not take goes to the Python parser, which also flags the ones that do not parse.
 */
enum { J_STR, J_INT, J_FLOAT, J_LIT, J_ARR, J_OBJ };
#define J_MEMBERS 64
#define J_DEPTH 16
#define J_GROUPS 7 /* the message keys, then log.level, log.logger, trace.id, span.id, error.stack_trace, error.type */

typedef struct {
    span key;                /* without its quotes, no escapes */
    const uint8_t *v, *v_end; /* the value's text */
    int type;
    int escapes, newline, nonascii; /* for strings */
} member;

typedef struct {
    member m[J_MEMBERS];
    int n;
    int taken[J_GROUPS]; /* the member each group took, or -1 */
} json_doc;

static const uint8_t *ws(const uint8_t *p, const uint8_t *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static int hex4(const uint8_t *p, uint32_t *cp) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    *cp = v;
    return 1;
}

/* A string at p (its opening quote) as orjson reads it; returns the end (after the closing quote), or NULL. */
static const uint8_t *jstring(const uint8_t *p, const uint8_t *end, member *info) {
    p++;
    while (p < end) {
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;  /* a raw control character: orjson refuses it */
        if (c >= 0x80) { info->nonascii = 1; p++; continue; }  /* valid UTF-8: checked for the whole message */
        if (c != '\\') { p++; continue; }
        info->escapes = 1;
        if (p + 1 >= end) return NULL;
        switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'r': case 't': p += 2; break;
            case 'n': info->newline = 1; p += 2; break;
            case 'u': {
                uint32_t cp;
                if (end - p < 6 || !hex4(p + 2, &cp) || (cp >= 0xD800 && cp <= 0xDFFF)) return NULL;
                if (cp == '\n') info->newline = 1;
                if (cp >= 0x80) info->nonascii = 1;
                p += 6;
                break;
            }
            default: return NULL;
        }
    }
    return NULL;
}

static const uint8_t *jobject(const uint8_t *p, const uint8_t *end, int depth, json_doc *top);

/* The fraction of a number (`point` at its `.`), taken only when orjson writes the double back as the same text:
 * no exponent, at most 15 significant digits (a double holds 15 exactly, so its shortest form is these digits), no
 * trailing zero in the fraction but a lone `.0`, and below 1 at most three zeros after the point (inside the range
 * orjson writes without an exponent; from 1e15 up the 15 digits run out first). Anything else goes to Python. */
static const uint8_t *jfloat(const uint8_t *digits, const uint8_t *point, const uint8_t *end) {
    const uint8_t *f = point + 1, *q = f;
    while (q < end && is_digit(*q)) q++;
    size_t whole = (size_t)(point - digits), frac = (size_t)(q - f), significant = whole + frac;
    if (frac == 0) return NULL;  /* an exponent fails at the next byte, as after an integer */
    if (frac > 1 && f[frac - 1] == '0') return NULL;
    if (digits[0] == '0') {  /* 0.x: the zeros after the point are not significant */
        size_t zeros = 0;
        while (zeros < frac && f[zeros] == '0') zeros++;
        if (zeros < frac && zeros > 3) return NULL;
        significant = frac - zeros;
    }
    return significant > 15 ? NULL : q;
}

/* Any value at p; NULL for what this does not take (floats jfloat() does not, long integers, -0) and for what is not
 * JSON. */
static const uint8_t *jvalue(const uint8_t *p, const uint8_t *end, int depth, member *info) {
    if (p >= end) return NULL;
    uint8_t c = *p;
    if (c == '"') {
        info->type = J_STR;
        return jstring(p, end, info);
    }
    if (c == '{') {
        info->type = J_OBJ;
        return jobject(p, end, depth + 1, NULL);
    }
    if (c == '[') {
        info->type = J_ARR;
        if (depth + 1 > J_DEPTH) return NULL;
        p = ws(p + 1, end);
        if (p < end && *p == ']') return p + 1;
        for (;;) {
            member item = {{NULL, 0}, NULL, NULL, 0, 0, 0, 0};
            p = jvalue(p, end, depth + 1, &item);
            if (p == NULL) return NULL;
            p = ws(p, end);
            if (p < end && *p == ',') { p = ws(p + 1, end); continue; }
            if (p < end && *p == ']') return p + 1;
            return NULL;
        }
    }
    info->type = J_LIT;
    if (c == 't') return lit(p, end, "true");
    if (c == 'f') return lit(p, end, "false");
    if (c == 'n') return lit(p, end, "null");
    info->type = J_INT;
    const uint8_t *q = p;
    if (*q == '-') q++;
    const uint8_t *digits = q;
    if (q >= end || !is_digit(*q)) return NULL;
    if (*q == '0') q++;
    else while (q < end && is_digit(*q)) q++;
    if (q < end && *q == '.') {
        info->type = J_FLOAT;
        return jfloat(digits, q, end);
    }
    if (q - p == 2 && *p == '-' && *digits == '0') return NULL;  /* -0: orjson reads 0 */
    if (q - digits > 18) return NULL;  /* past a long orjson reads a float */
    return q;  /* an exponent (or 01) fails at the next byte: its caller wants a blank, `,`, `]` or `}` */
}

/* An object at p (its opening brace). Keys must be free of escapes and distinct (orjson keeps the last of two).
 * `top` receives the members of the outermost one. */
static const uint8_t *jobject(const uint8_t *p, const uint8_t *end, int depth, json_doc *top) {
    if (depth > J_DEPTH) return NULL;
    span keys[J_MEMBERS];
    int n = 0;
    p = ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        if (p >= end || *p != '"' || n == J_MEMBERS) return NULL;
        member m = {{NULL, 0}, NULL, NULL, 0, 0, 0, 0};
        const uint8_t *k = jstring(p, end, &m);
        if (k == NULL || m.escapes) return NULL;
        span key = {p + 1, (size_t)(k - p - 2)};
        for (int i = 0; i < n; i++)
            if (keys[i].n == key.n && memcmp(keys[i].p, key.p, key.n) == 0) return NULL;
        keys[n++] = key;
        p = ws(k, end);
        if (p >= end || *p != ':') return NULL;
        p = ws(p + 1, end);
        member v = {key, p, NULL, 0, 0, 0, 0};
        p = jvalue(p, end, depth, &v);
        if (p == NULL) return NULL;
        v.v_end = p;
        if (top != NULL) top->m[top->n++] = v;
        p = ws(p, end);
        if (p < end && *p == ',') { p = ws(p + 1, end); continue; }
        if (p < end && *p == '}') return p + 1;
        return NULL;
    }
}

/* JsonParser.parse: the members, the message (the first of its keys that holds a string) and, per ECS group, the
 * first of its keys that holds a string or an integer. `keys`: J_GROUPS groups of NUL-terminated keys, each group
 * ended by an empty key. Returns 0 for a line this does not take. */
static int json_parse(const uint8_t *m, size_t n, const uint8_t *keys, json_doc *doc) {
    const uint8_t *end = m + n, *p = m;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;  /* str.strip(): other blanks go to Python */
    if (p >= end || *p != '{') return 0;
    doc->n = 0;
    p = jobject(p, end, 1, doc);
    if (p == NULL) return 0;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    if (p != end) return 0;
    const uint8_t *k = keys;
    for (int g = 0; g < J_GROUPS; g++) {
        doc->taken[g] = -1;
        for (; *k; k += strlen((const char *)k) + 1) {
            if (doc->taken[g] >= 0) continue;
            size_t len = strlen((const char *)k);
            for (int i = 0; i < doc->n; i++) {
                member *mb = &doc->m[i];
                if (mb->key.n != len || memcmp(mb->key.p, k, len) != 0) continue;
                if (mb->type == J_STR || (g > 0 && mb->type == J_INT)) doc->taken[g] = i;
                break;
            }
        }
        k++;
    }
    int msg = doc->taken[0], level = doc->taken[1];
    /* A message with a newline may be a trace: the processor adds error fields from it (Python). A level is
     * lowered with str.lower(), which this does only for ASCII. */
    if (msg >= 0 && doc->m[msg].newline) return 0;
    if (level >= 0 && doc->m[level].type == J_STR && doc->m[level].nonascii) return 0;
    return 1;
}

/* A string's text, validated by jstring(), as orjson writes the str it decodes to. */
static uint8_t *jstring_out(uint8_t *o, const uint8_t *p, const uint8_t *q) {
    /* p at the opening quote, q after the closing one */
    *o++ = '"';
    for (p++, q--; p < q;) {
        if (*p != '\\') { *o++ = *p++; continue; }
        uint32_t cp;
        switch (p[1]) {
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': hex4(p + 2, &cp); p += 4; break;
            default: cp = p[1];  /* " \ / */
        }
        p += 2;
        if (cp < 0x80) {
            o = escaped_byte(o, (uint8_t)cp);
        } else if (cp < 0x800) {
            *o++ = (uint8_t)(0xC0 | (cp >> 6));
            *o++ = (uint8_t)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (uint8_t)(0xE0 | (cp >> 12));
            *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (uint8_t)(0x80 | (cp & 0x3F));
        }
    }
    *o++ = '"';
    return o;
}

/* A value, validated by jvalue(), as orjson.dumps writes what orjson.loads made of it: no blanks, strings
 * rewritten, integers and literals as they are. */
static uint8_t *jvalue_out(uint8_t *o, const uint8_t *p, const uint8_t *end) {
    while (p < end) {
        uint8_t c = *p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') { p++; continue; }
        if (c != '"') { *o++ = c; p++; continue; }
        const uint8_t *q = p + 1;
        while (*q != '"') q += *q == '\\' ? 2 : 1;
        o = jstring_out(o, p, q + 1);
        p = q + 1;
    }
    return o;
}

/* An ECS value: str(value), as a JSON string; lowered for the level. */
static uint8_t *ecs_out(uint8_t *o, const member *m, int lower) {
    if (m->type == J_INT) {
        *o++ = '"';
        o = put(o, m->v, (size_t)(m->v_end - m->v));
        *o++ = '"';
        return o;
    }
    uint8_t *start = o;
    o = jstring_out(o, m->v, m->v_end);
    if (lower)
        for (uint8_t *c = start; c < o; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (uint8_t)(*c + 32);
    return o;
}

/* After the head: parts[5] with the log's level and logger inside the log object (at log_close, its closing
 * brace), the ECS fields and json.* after the plan's fields, the end. Encoder._encode_dict's order; with no fields
 * that is parts[5] itself, the item the encoder's template writes for a record without fields. */
static uint8_t *json_tail(uint8_t *o, const json_doc *doc, const uint8_t *part5, size_t part5_len, size_t log_close) {
    static const char *const leaf[J_GROUPS] = {NULL, "\"level\":", "\"logger\":", "{\"id\":", "{\"id\":",
                                               "\"stack_trace\":", "\"type\":"};
    static const char *const root[J_GROUPS] = {NULL, NULL, NULL, ",\"trace\":", ",\"span\":", NULL, NULL};
    const int *t = doc->taken;
    o = put(o, part5, log_close);
    for (int g = 1; g <= 2; g++) {
        if (t[g] < 0) continue;
        *o++ = ',';
        o = key(o, leaf[g]);
        o = ecs_out(o, &doc->m[t[g]], g == 1);
    }
    o = put(o, part5 + log_close, part5_len - log_close - 2);
    for (int g = 3; g <= 4; g++) {
        if (t[g] < 0) continue;
        o = key(o, root[g]);
        o = key(o, leaf[g]);
        o = ecs_out(o, &doc->m[t[g]], 0);
        *o++ = '}';
    }
    if (t[5] >= 0 || t[6] >= 0) {
        o = key(o, ",\"error\":{");
        for (int g = 5, first = 1; g <= 6; g++) {
            if (t[g] < 0) continue;
            if (!first) *o++ = ',';
            first = 0;
            o = key(o, leaf[g]);
            o = ecs_out(o, &doc->m[t[g]], 0);
        }
        *o++ = '}';
    }
    int first = 1;
    for (int i = 0; i < doc->n; i++) {
        int used = 0;
        for (int g = 0; g < J_GROUPS; g++) used |= t[g] == i;
        if (used) continue;
        o = key(o, first ? ",\"json\":{" : ",");
        first = 0;
        const member *m = &doc->m[i];
        *o++ = '"';
        o = put(o, m->key.p, m->key.n);
        o = key(o, "\":");
        o = jvalue_out(o, m->v, m->v_end);
    }
    if (!first) *o++ = '}';
    *o++ = '}';
    *o++ = '\n';
    return o;
}

enum { PLAIN, NGINX, JSON };

/*
 * buf[start:len] holds complete lines, each ending in '\n'. `parts` is the six constant pieces back to back, their
 * lengths in `part_len`. Items go to `out` (capacity `out_cap`), each followed by a NUL byte, which no item holds
 * (every byte of it is JSON text or a validated timestamp, stream or number), so the caller splits them apart in
 * one call; `out_len` is the bytes written. Returns where it stopped: len when every line was taken, else the
 * start of the line it did not take, or could not fit (then `full` is 1: the caller gives it more room).
 */
static size_t cri_items(const uint8_t *buf, size_t len, size_t start, uint64_t base_offset, size_t limit,
                        const uint8_t *parts, const size_t *part_len, uint8_t *out, size_t out_cap,
                        size_t *out_len, int *full, int mode, const uint8_t *keys, size_t log_close) {
    const uint8_t *part[6];
    int parsed = mode != PLAIN;
    json_doc doc;
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
        if (msg_len > limit || !utc_timestamp(line, ts_len)) break;
        if (mode != NGINX && !valid_utf8(msg, msg_len)) break;  /* nginx_fields() takes printable ASCII only */
        if (mode == JSON && !json_parse(msg, msg_len, keys, &doc)) break;
        /* Worst case: every message byte escaped as \u00xx, two offsets of up to 20 digits each, the NUL; with the
         * parser's fields, each message byte in at most two of them, escaped, three numbers and the keys. */
        if ((size_t)(o - out) + fixed + ts_len + stream_len + (parsed ? 12 : 6) * msg_len + 2 + 40 + 1 +
                (parsed ? 700 : 0) > out_cap) {
            *full = 1;
            break;
        }
        uint8_t *item = o;
        uint64_t offset = base_offset + (pos - start);
        o = put(o, part[0], part_len[0]);
        o = unsigned_text(o, offset, 16);
        o = put(o, part[1], part_len[1]);
        o = put(o, line, ts_len);
        o = put(o, part[2], part_len[2]);
        if (mode == JSON && doc.taken[0] >= 0)
            o = jstring_out(o, doc.m[doc.taken[0]].v, doc.m[doc.taken[0]].v_end);  /* the parsed message */
        else
            o = json_string(o, msg, msg_len);
        o = put(o, part[3], part_len[3]);
        o = unsigned_text(o, offset, 10);
        o = put(o, part[4], part_len[4]);
        o = put(o, stream, stream_len);
        if (mode == NGINX) {
            /* The document with the parser's fields: parts[5] (which ends in `}\n`) up to that end, the fields, the
             * end. A line nginx_fields() does not take is not written: the loop stops before it. */
            o = put(o, part[5], part_len[5] - 2);
            o = nginx_fields(o, msg, msg_len);
            if (o == NULL) {
                o = item;
                break;
            }
            *o++ = '}';
            *o++ = '\n';
        } else if (mode == JSON) {
            o = json_tail(o, &doc, part[5], part_len[5], log_close);
        } else {
            o = put(o, part[5], part_len[5]);
        }
        *o++ = 0;
        pos += line_len + 1;
    }
    *out_len = (size_t)(o - out);
    return pos;
}

size_t observe_cri_items(const uint8_t *buf, size_t len, size_t start, uint64_t base_offset, size_t limit,
                         const uint8_t *parts, const size_t *part_len, uint8_t *out, size_t out_cap,
                         size_t *out_len, int *full) {
    return cri_items(buf, len, start, base_offset, limit, parts, part_len, out, out_cap, out_len, full, PLAIN, NULL,
                     0);
}

/* The same for the lines of a file with the parser `nginx` (and no multiline): each item's document also has the
 * parser's fields, after the plan's (Encoder._encode_dict's order); it stops before a line nginx_fields() does not
 * take too. */
size_t observe_cri_nginx_items(const uint8_t *buf, size_t len, size_t start, uint64_t base_offset, size_t limit,
                               const uint8_t *parts, const size_t *part_len, uint8_t *out, size_t out_cap,
                               size_t *out_len, int *full) {
    return cri_items(buf, len, start, base_offset, limit, parts, part_len, out, out_cap, out_len, full, NGINX, NULL,
                     0);
}

/* The same for the lines of a file with the parser `json` (and no multiline): json_parse() and json_tail(). `keys`
 * as json_parse() takes them; `log_close` is where parts[5] closes the document's log object. */
size_t observe_cri_json_items(const uint8_t *buf, size_t len, size_t start, uint64_t base_offset, size_t limit,
                              const uint8_t *parts, const size_t *part_len, uint8_t *out, size_t out_cap,
                              size_t *out_len, int *full, const uint8_t *keys, size_t log_close) {
    return cri_items(buf, len, start, base_offset, limit, parts, part_len, out, out_cap, out_len, full, JSON, keys,
                     log_close);
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

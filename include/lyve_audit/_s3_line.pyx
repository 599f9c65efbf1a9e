# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled twin of `schema.s3_usual_parts`: the parts of an S3 API line in its usual shape, built in C.

Why: `s3_usual_parts` runs once per entry of the biggest objects, and about two thirds of its time is spent in
interpreted glue (checks, slicing, look-ups, formatting), not in decoding. This module does the same steps on the
raw buffers: it checks the strings msgspec decoded, parses the time, escapes tags and the message, and writes the
series and fields straight into two new ASCII strings, sized first.

It takes an even narrower shape than `s3_usual_parts` (the whole line printable ASCII, the time exactly
`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` between 1678 and 2261, the client address `host:port` or a bare host) and hands
every other line to the Python function it was configured with, so its output is, by construction and by test
(tests/unit/test_fast_paths.py), the bytes the general path writes.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    void* PyUnicode_DATA(object text)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    /* The high bit of every byte of `x` that is zero, exactly (no false hits next to a zero byte). */
    static inline uint64_t lyve_zero_bytes(uint64_t x) {
        const uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL;
        return ~(((x & low7) + low7) | x | low7);
    }

    /* A line's size as a quoted field string (quote and backslash escaped), or -1 unless every byte is in 0x20..0x7E:
       a plain loop the compiler vectorizes. */
    static Py_ssize_t lyve_message_size(const unsigned char* line, Py_ssize_t size) {
        Py_ssize_t extra = 0;
        unsigned int outside = 0;
        for (Py_ssize_t index = 0; index < size; index++) {
            unsigned char c = line[index];
            outside |= (unsigned char)(c - 0x20) > 0x5E;
            extra += (c == 0x22) + (c == 0x5C);
        }
        return outside ? -1 : size + extra + 2;
    }

    /* Write the line as a quoted field string; eight bytes at a time where no byte needs escaping. */
    static char* lyve_put_message(char* out, const char* line, Py_ssize_t size) {
        const uint64_t quotes = 0x2222222222222222ULL, backslashes = 0x5C5C5C5C5C5C5C5CULL;
        Py_ssize_t index = 0;
        *out++ = '"';
        for (; index + 8 <= size; index += 8) {
            uint64_t word;
            memcpy(&word, line + index, 8);
            if (!(lyve_zero_bytes(word ^ quotes) | lyve_zero_bytes(word ^ backslashes))) {
                memcpy(out, &word, 8);
                out += 8;
                continue;
            }
            for (int at = 0; at < 8; at++) {
                char c = line[index + at];
                if (c == 0x22 || c == 0x5C) *out++ = 0x5C;
                *out++ = c;
            }
        }
        for (; index < size; index++) {
            char c = line[index];
            if (c == 0x22 || c == 0x5C) *out++ = 0x5C;
            *out++ = c;
        }
        *out++ = '"';
        return out;
    }
    """
    Py_ssize_t lyve_message_size(const unsigned char* line, Py_ssize_t size)
    char* lyve_put_message(char* out, const char* line, Py_ssize_t size)


cdef object _decode = None
cdef object _fallback = None
cdef Py_ssize_t _max_series = 0

DEF SAFE_DIGITS = 18  # nanosecond counts of at most 18 digits fit a signed 64-bit integer field
DEF MIN_YEAR = 1678  # whole years inside InfluxDB's time range (1677-09-21 to 2262-04-11)
DEF MAX_YEAR = 2261


def configure(decode, fallback, Py_ssize_t max_series_bytes):
    """Wire in the msgspec decoder of the usual S3 entry, the Python function for every other line and the longest
    series key InfluxDB takes (all from `schema`, so the rules live in one place)."""
    global _decode, _fallback, _max_series
    _decode = decode
    _fallback = fallback
    _max_series = max_series_bytes


cdef inline const char* _chars(object text) noexcept:
    return <const char*>PyUnicode_DATA(text)


cdef inline bint _plain(object text, bint need_text) noexcept:
    """An ASCII str without `"`, `\\` or control characters (the caller checked it is a str)."""
    if not PyUnicode_IS_ASCII(text):
        return False
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text)
    if need_text and size == 0:
        return False
    cdef const unsigned char* at = <const unsigned char*>_chars(text)
    cdef Py_ssize_t index
    cdef unsigned char c
    for index in range(size):
        c = at[index]
        if c < 0x20 or c == 0x22 or c == 0x5C:
            return False
    return True


cdef inline Py_ssize_t _tag_size(object text) noexcept:
    """Size of a plain ASCII tag value once `,`, ` ` and `=` are escaped."""
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text)
    cdef const char* at = _chars(text)
    cdef Py_ssize_t index, extra = 0
    cdef char c
    for index in range(size):
        c = at[index]
        if c == c',' or c == c' ' or c == c'=':
            extra += 1
    return size + extra


cdef inline char* _put(char* out, const char* text, Py_ssize_t size) noexcept:
    memcpy(out, text, size)
    return out + size


cdef inline char* _put_key(char* out, const char* key, Py_ssize_t key_size) noexcept:
    """`,key=`: how every tag and field after the first starts."""
    out[0] = c','
    out = _put(out + 1, key, key_size)
    out[0] = c'='
    return out + 1


cdef inline char* _put_tag(char* out, const char* key, Py_ssize_t key_size, object value) noexcept:
    """`,key=value` with the value escaped; nothing for an empty value (the general path leaves the tag out)."""
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(value)
    if size == 0:
        return out
    cdef const char* at = _chars(value)
    cdef Py_ssize_t index
    cdef char c
    out = _put_key(out, key, key_size)
    for index in range(size):
        c = at[index]
        if c == c',' or c == c' ' or c == c'=':
            out[0] = c'\\'
            out += 1
        out[0] = c
        out += 1
    return out


cdef inline Py_ssize_t _tag_total(Py_ssize_t key_size, object value) noexcept:
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(value)
    if size == 0:
        return 0
    return 2 + key_size + _tag_size(value)


cdef inline Py_ssize_t _digits(uint64_t value, char* out) noexcept:
    """Decimal digits of `value` into `out` (at least 20 bytes); returns how many."""
    cdef char buffer[20]
    cdef Py_ssize_t count = 0
    while True:
        buffer[19 - count] = <char>(c'0' + value % 10)
        value //= 10
        count += 1
        if value == 0:
            break
    memcpy(out, &buffer[20 - count], count)
    return count


cdef inline Py_ssize_t _signed(int64_t value, char* out) noexcept:
    if value < 0:
        out[0] = c'-'
        return 1 + _digits(<uint64_t>0 - <uint64_t>value, out + 1)
    return _digits(<uint64_t>value, out)


cdef inline bint _nanoseconds(object text, int64_t* value) noexcept:
    """`<1 to 18 ASCII digits>ns` → value; False for any other duration (the Python path handles those)."""
    if not PyUnicode_IS_ASCII(text):
        return False
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text) - 2
    if size < 1 or size > SAFE_DIGITS:
        return False
    cdef const char* at = _chars(text)
    if at[size] != c'n' or at[size + 1] != c's':
        return False
    cdef int64_t total = 0
    cdef Py_ssize_t index
    for index in range(size):
        if at[index] < c'0' or at[index] > c'9':
            return False
        total = total * 10 + (at[index] - c'0')
    value[0] = total
    return True


cdef inline int _two(const char* at) noexcept:
    if at[0] < c'0' or at[0] > c'9' or at[1] < c'0' or at[1] > c'9':
        return -1
    return (at[0] - c'0') * 10 + (at[1] - c'0')


cdef inline int64_t _days_from_civil(int64_t year, int64_t month, int64_t day) noexcept:
    """Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    cdef int64_t era = (year if year >= 0 else year - 399) // 400
    cdef int64_t year_of_era = year - era * 400
    cdef int64_t day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    cdef int64_t day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


cdef int[13] _MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef inline bint _time_ns(object text, int64_t* value) noexcept:
    """`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` → ns since the epoch, with the full parser's limits (hour ≤ 23, minute
    ≤ 59, second ≤ 60, a real date); False for any other shape or a year outside [MIN_YEAR, MAX_YEAR]."""
    if not PyUnicode_IS_ASCII(text) or PyUnicode_GET_LENGTH(text) != 30:
        return False
    cdef const char* at = _chars(text)
    if (at[4] != c'-' or at[7] != c'-' or at[10] != c'T' or at[13] != c':' or at[16] != c':' or at[19] != c'.'
            or at[29] != c'Z'):
        return False
    cdef int high = _two(at), low = _two(at + 2)
    cdef int month = _two(at + 5), day = _two(at + 8)
    cdef int hour = _two(at + 11), minute = _two(at + 14), second = _two(at + 17)
    if high < 0 or low < 0 or month < 1 or month > 12 or day < 1 or hour < 0 or minute < 0 or second < 0:
        return False
    cdef int year = high * 100 + low
    if year < MIN_YEAR or year > MAX_YEAR or hour > 23 or minute > 59 or second > 60:
        return False
    cdef int month_days = _MONTH_DAYS[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        month_days = 29
    if day > month_days:
        return False
    cdef int64_t fraction = 0
    cdef Py_ssize_t index
    for index in range(20, 29):
        if at[index] < c'0' or at[index] > c'9':
            return False
        fraction = fraction * 10 + (at[index] - c'0')
    cdef int64_t seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    value[0] = seconds * 1000000000 + fraction
    return True


cdef inline object _client_host(object address):
    """The host of `host:port` (one colon, digits after it) or of a bare host; None for anything else (IPv6,
    brackets, spaces: the Python path applies the general rule)."""
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(address)
    cdef const char* at = _chars(address)
    cdef Py_ssize_t index, colon = -1
    for index in range(size):
        if at[index] == c':':
            if colon >= 0:
                return None
            colon = index
        elif at[index] == c' ' or at[index] == c'[':
            return None
    if colon < 0:
        return address
    if colon == 0 or colon == size - 1:
        return None
    for index in range(colon + 1, size):
        if at[index] < c'0' or at[index] > c'9':
            return None
    return address[:colon]


cdef inline char* _put_string_field(char* out, const char* key, Py_ssize_t key_size, object value) noexcept:
    """`,key="value"` for a plain value (no escaping needed)."""
    out = _put_key(out, key, key_size)
    out[0] = c'"'
    out = _put(out + 1, _chars(value), PyUnicode_GET_LENGTH(value))
    out[0] = c'"'
    return out + 1


cdef inline char* _put_integer_field(char* out, const char* key, Py_ssize_t key_size, const char* digits,
                                     Py_ssize_t digit_count) noexcept:
    """`,key=<digits>i`."""
    out = _put(_put_key(out, key, key_size), digits, digit_count)
    out[0] = c'i'
    return out + 1


# Keys as C strings, with their sizes (all ASCII).
DEF MEASUREMENT = b"audit-01"
DEF BUCKET = b"auditEntry.api.bucket"
DEF NAME = b"auditEntry.api.name"
DEF CODE = b"auditEntry.api.statusCode"
DEF CLIENT = b"auditEntry.requestHeader.X-Real-Ip"
DEF CREATOR = b"serviceAccountCreatorId"
DEF ACCOUNT = b"serviceAccountName"
DEF ENTRY_BYTES = b"entry_bytes="
DEF MESSAGE = b",message="
DEF RESPONSE = b"auditEntry.api.timeToResponse"
DEF FIRST_BYTE = b"auditEntry.api.timeToFirstByte"
DEF RX = b"auditEntry.api.rx"
DEF TX = b"auditEntry.api.tx"
DEF OBJECT = b"auditEntry.api.object"
DEF STATUS = b"auditEntry.api.status"
DEF REQUEST_ID = b"auditEntry.requestID"
DEF USER_AGENT = b"auditEntry.userAgent"


def s3_usual_parts(bytes raw, bint include_message):
    """(series, fields, time_ns) of an S3 API line, exactly as `schema.s3_usual_parts` gives them."""
    if _decode is None:
        raise RuntimeError("include.lyve_audit._s3_line is used before schema configured it")
    cdef const char* line = PyBytes_AS_STRING(raw)
    cdef Py_ssize_t line_size = PyBytes_GET_SIZE(raw)
    cdef Py_ssize_t message_size = lyve_message_size(<const unsigned char*>line, line_size)
    if message_size < 0:
        return _fallback(raw, include_message)
    try:
        entry = _decode(raw)
    except Exception:
        return _fallback(raw, include_message)
    audit = entry.audit_entry
    api = audit.api
    when = audit.time
    client = audit.request_header.real_ip
    request_id = audit.request_id
    agent = audit.user_agent
    bucket = api.bucket
    name = api.name
    code = api.status_code
    obj = api.object
    status = api.status
    creator = entry.service_account_creator_id
    account = entry.service_account_name
    first = api.time_to_first_byte
    if not (_plain(bucket, False) and _plain(name, False) and _plain(creator, False) and _plain(account, False)
            and _plain(client, False) and _plain(obj, True) and _plain(status, True) and _plain(request_id, True)
            and _plain(agent, True)):
        return _fallback(raw, include_message)

    cdef int64_t time_ns = 0, response_ns = 0, first_ns = -1
    if not _time_ns(when, &time_ns) or not _nanoseconds(api.time_to_response, &response_ns):
        return _fallback(raw, include_message)
    if first is not None and not _nanoseconds(first, &first_ns):
        return _fallback(raw, include_message)
    host = _client_host(client)
    if host is None:
        return _fallback(raw, include_message)

    cdef char code_digits[21]
    cdef Py_ssize_t code_digit_count = 0, code_tag_size  # digits only for an integer code
    if type(code) is int:
        code_digit_count = _signed(<int64_t>code, code_digits)
        code_tag_size = 2 + len(CODE) + code_digit_count
    elif _plain(code, False):
        code_tag_size = _tag_total(len(CODE), code)
    else:
        return _fallback(raw, include_message)

    # The series: measurement, then the tags in key order, empty ones left out.
    cdef Py_ssize_t series_size = (
        len(MEASUREMENT) + _tag_total(len(BUCKET), bucket) + _tag_total(len(NAME), name)
        + _tag_total(len(CLIENT), host) + _tag_total(len(CREATOR), creator) + _tag_total(len(ACCOUNT), account)
        + code_tag_size
    )
    if series_size > _max_series:
        return _fallback(raw, include_message)
    series = PyUnicode_New(series_size, 127)
    cdef char* out = <char*>PyUnicode_DATA(series)
    out = _put(out, MEASUREMENT, len(MEASUREMENT))
    out = _put_tag(out, BUCKET, len(BUCKET), bucket)
    out = _put_tag(out, NAME, len(NAME), name)
    if code_digit_count:
        out = _put(_put_key(out, CODE, len(CODE)), code_digits, code_digit_count)
    else:
        out = _put_tag(out, CODE, len(CODE), code)
    out = _put_tag(out, CLIENT, len(CLIENT), host)
    out = _put_tag(out, CREATOR, len(CREATOR), creator)
    out = _put_tag(out, ACCOUNT, len(ACCOUNT), account)

    # The fields, in the general path's order.
    cdef char entry_digits[21]
    cdef char response_digits[21]
    cdef char first_digits[21]
    cdef char rx_digits[21]
    cdef char tx_digits[21]
    cdef Py_ssize_t entry_count = _digits(<uint64_t>line_size, entry_digits)
    cdef Py_ssize_t response_count = _digits(<uint64_t>response_ns, response_digits)
    cdef Py_ssize_t first_count = _digits(<uint64_t>first_ns, first_digits) if first_ns >= 0 else 0
    cdef Py_ssize_t rx_count = _signed(<int64_t>api.rx, rx_digits)
    cdef Py_ssize_t tx_count = _signed(<int64_t>api.tx, tx_digits)
    cdef Py_ssize_t fields_size = (
        len(ENTRY_BYTES) + entry_count + 1
        + (len(MESSAGE) + message_size if include_message else 0)
        + 3 + len(RESPONSE) + response_count
        + (3 + len(FIRST_BYTE) + first_count if first_ns >= 0 else 0)
        + 3 + len(RX) + rx_count + 3 + len(TX) + tx_count
        + 4 + len(OBJECT) + PyUnicode_GET_LENGTH(obj) + 4 + len(STATUS) + PyUnicode_GET_LENGTH(status)
        + 4 + len(REQUEST_ID) + PyUnicode_GET_LENGTH(request_id) + 4 + len(USER_AGENT) + PyUnicode_GET_LENGTH(agent)
    )
    fields = PyUnicode_New(fields_size, 127)
    out = <char*>PyUnicode_DATA(fields)
    out = _put(out, ENTRY_BYTES, len(ENTRY_BYTES))
    out = _put(out, entry_digits, entry_count)
    out[0] = c'i'
    out += 1
    if include_message:
        out = _put(out, MESSAGE, len(MESSAGE))
        out = lyve_put_message(out, line, line_size)
    out = _put_integer_field(out, RESPONSE, len(RESPONSE), response_digits, response_count)
    if first_ns >= 0:
        out = _put_integer_field(out, FIRST_BYTE, len(FIRST_BYTE), first_digits, first_count)
    out = _put_integer_field(out, RX, len(RX), rx_digits, rx_count)
    out = _put_integer_field(out, TX, len(TX), tx_digits, tx_count)
    out = _put_string_field(out, OBJECT, len(OBJECT), obj)
    out = _put_string_field(out, STATUS, len(STATUS), status)
    out = _put_string_field(out, REQUEST_ID, len(REQUEST_ID), request_id)
    out = _put_string_field(out, USER_AGENT, len(USER_AGENT), agent)
    return series, fields, time_ns

"""A corpus of small MIDI files, well-formed and malformed, built byte by byte in code.

Each entry maps a file name to (bytes, outcome), where outcome is what the song loader must
do with it: "ok", "cut" (loaded, cut to max_song_steps with a warning), or the reason it is
skipped: "unreadable", "no notes", "too short".
"""
import struct

TPB = 96                      # ticks per beat: a 16th is 24 ticks
STEP = TPB // 4


def vlq(n):
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def track(*events):
    """An MTrk chunk of (delta, raw event bytes) pairs, with end-of-track added; a bytes delta is used as is."""
    body = b"".join((delta if isinstance(delta, bytes) else vlq(delta)) + data for delta, data in events)
    body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def smf(*tracks, fmt=1, division=TPB):
    return b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), division) + b"".join(tracks)


def on(pitch, channel=0, velocity=64):
    return bytes([0x90 | channel, pitch, velocity])


def off(pitch, channel=0):
    return bytes([0x80 | channel, pitch, 0])


def melody(*pitches, length=4 * STEP):
    """Events of pitches played one after the other, each `length` ticks."""
    events = []
    for pitch in pitches:
        events += [(0, on(pitch)), (length, off(pitch))]
    return events


VALID = smf(track(*melody(60, 64, 67, 72)))
TIME_SIGNATURE = b"\xff\x58\x04"


def corpus():
    huge = 10 * 3600 * 2 * TPB              # ten hours at 120 bpm
    files = {
        "valid.mid": (VALID, "ok"),
        "empty.mid": (b"", "unreadable"),
        "text.mid": (b"hello, this is not a MIDI file\n" * 3, "unreadable"),
        "truncated_header.mid": (VALID[:10], "unreadable"),
        "truncated_track.mid": (VALID[:-5], "unreadable"),
        "bad_chunk_length.mid": (VALID[:18] + struct.pack(">I", 4000) + VALID[22:], "unreadable"),
        "short_chunk_length.mid": (VALID[:18] + struct.pack(">I", 3) + VALID[22:], "unreadable"),
        "smpte.mid": (smf(track(*melody(60, 62)), division=0xE728), "unreadable"),
        "tpb_zero.mid": (smf(track(*melody(60, 62)), division=0), "unreadable"),
        "unknown_format.mid": (smf(track(*melody(60, 62)), fmt=7), "unreadable"),
        # running status: one status byte, then bare data bytes (note_on velocity 0 ends notes)
        "running_status.mid": (smf(track((0, b"\x90\x3c\x40"), (4 * STEP, b"\x3c\x00"), (0, b"\x40\x40"),
                                         (4 * STEP, b"\x40\x00"))), "ok"),
        "format0.mid": (smf(track(*melody(60, 62)), fmt=0), "ok"),
        "format1_two_tracks.mid": (smf(track(*melody(60, 62)), track(*melody(48, 50))), "ok"),
        "format2_two_sequences.mid": (smf(track(*melody(60, 62)), track(*melody(48, 50)), fmt=2), "ok"),
        "tpb_1.mid": (smf(track((0, on(60)), (4, off(60))), division=1), "ok"),
        "tpb_32767.mid": (smf(track((0, on(60)), (32767 * 2, off(60))), division=32767), "ok"),
        "huge_delta.mid": (smf(track(*melody(60, 62), (huge, b"\xb0\x07\x64"))), "cut"),
        "out_of_range.mid": (smf(track(*melody(10, 60, 120))), "ok"),
        "all_out_of_range.mid": (smf(track(*melody(10, 12, 120))), "no notes"),
        "stray_note_offs.mid": (smf(track((0, off(61)), *melody(60, 62), (0, off(70)))), "ok"),
        "overlapping.mid": (smf(track((0, on(60)), (2 * STEP, on(60)), (2 * STEP, off(60)), (2 * STEP, off(60)))), "ok"),
        "drums_only.mid": (smf(track((0, on(36, 9)), (4 * STEP, off(36, 9)), (0, on(38, 9)), (4 * STEP, off(38, 9)))),
                           "no notes"),
        "no_notes.mid": (smf(track((0, b"\xff\x51\x03\x07\xa1\x20"), (8 * STEP, b"\xff\x01\x02hi"))), "no notes"),
        "time_signature_changes.mid": (smf(track((0, TIME_SIGNATURE + b"\x04\x02\x18\x08"), *melody(60, 62),
                                                 (0, TIME_SIGNATURE + b"\x03\x02\x18\x08"), *melody(64, 65),
                                                 (0, TIME_SIGNATURE + b"\x06\x03\x18\x08"), *melody(67))), "ok"),
        # found by fuzz_midi.py: no notes, but ten hours of silence, must not allocate ten hours of roll
        "silence_ten_hours.mid": (smf(track((huge, b"\xb0\x07\x64"))), "no notes"),
        # found by fuzz_midi.py: a delta time of more than four bytes
        "overlong_delta.mid": (smf(track((0, on(60)), (b"\xff" * 9 + b"\x01", off(60)))), "unreadable"),
        "too_short.mid": (smf(track((0, on(60)), (STEP, off(60)))), "too short"),
    }
    return files


def write_corpus(folder):
    for name, (data, _) in corpus().items():
        with open(f"{folder}/{name}", "wb") as f:
            f.write(data)
    return folder

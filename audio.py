"""Render MIDI to WAV with FluidSynth and a General MIDI soundfont, loudness normalised."""
import glob
import os
import shutil
import subprocess
import wave

import numpy as np

INSTALL_HINT = ("install FluidSynth and a General MIDI soundfont: `sudo apt-get install fluidsynth fluid-soundfont-gm` "
                "(Debian/Ubuntu) or `brew install fluid-synth` plus any .sf2 soundfont, "
                "or point $SOUNDFONT at a .sf2 file")
SOUNDFONT_PATHS = ["/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
                   "/usr/share/soundfonts/FluidR3_GM.sf2", "/usr/share/soundfonts/default.sf2",
                   "/usr/share/sounds/sf2/TimGM6mb.sf2"]
SAMPLE_RATE = 44100
PEAK = 0.9            # FluidSynth's output peaks far below full scale; songs are scaled to peak here
RENDER_TIMEOUT = 600  # seconds; a render never hangs a run


class AudioUnavailable(RuntimeError):
    """FluidSynth or a soundfont is missing; the message says how to install them."""


def find_soundfont():
    candidates = [os.environ.get("SOUNDFONT", "")] + SOUNDFONT_PATHS + sorted(glob.glob("/usr/share/sounds/sf2/*.sf2"))
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    raise AudioUnavailable(f"no General MIDI soundfont found; {INSTALL_HINT}")


def normalise(path, peak=PEAK):
    """Scale a 16-bit WAV file in place so that its loudest sample is `peak` of full scale."""
    with wave.open(path, "rb") as f:
        params = f.getparams()
        samples = np.frombuffer(f.readframes(params.nframes), np.int16)
    loudest = int(np.abs(samples.astype(np.int32)).max()) if len(samples) else 0
    if loudest == 0:
        return 0.0
    gain = peak * 32767 / loudest
    scaled = np.clip(np.round(samples * gain), -32768, 32767).astype(np.int16)
    with wave.open(path, "wb") as f:
        f.setparams(params)
        f.writeframes(scaled.tobytes())
    return gain


def midi_to_wav(midi_path, wav_path, soundfont=None):
    """Render `midi_path` to a 44.1 kHz 16-bit stereo WAV at `wav_path`, peak-normalised.

    Raises AudioUnavailable when FluidSynth or a soundfont is missing.
    """
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise AudioUnavailable(f"fluidsynth is not installed; {INSTALL_HINT}")
    soundfont = soundfont or find_soundfont()
    tmp = wav_path + ".tmp.wav"
    command = [fluidsynth, "-ni", "-q", "-F", tmp, "-T", "wav", "-O", "s16", "-r", str(SAMPLE_RATE),
               soundfont, midi_path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0 or not os.path.exists(tmp):
        raise RuntimeError(f"fluidsynth failed on {midi_path}: {result.stderr.strip() or result.stdout.strip()}")
    normalise(tmp)
    os.replace(tmp, wav_path)
    return wav_path

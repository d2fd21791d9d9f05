"Bad uploads, each with the words its error message must contain; shared by the demo and browser tests."
import struct, zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_chunk(kind, data): return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def make_bad_inputs(folder:Path, good_jpeg:Path) -> dict:
    "Write the bad inputs into `folder`; returns {file: words expected in its error}."
    folder.mkdir(parents=True, exist_ok=True)
    bad = {}
    def add(name, expect, write):
        write(folder/name); bad[folder/name] = expect
    add('random.png', 'not an image file', lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)))
    add('truncated.jpeg', 'truncated', lambda p: p.write_bytes(good_jpeg.read_bytes()[:len(good_jpeg.read_bytes())//2]))
    add('empty.jpg', 'the file is empty', lambda p: p.write_bytes(b''))
    add('zero.png', 'not an image file', lambda p: p.write_bytes(
        b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', struct.pack('>IIBBBBB', 0, 0, 8, 2, 0, 0, 0)) + _png_chunk(b'IEND', b'')))
    add('dot.png', 'too small', lambda p: Image.new('RGB', (1, 1)).save(p))
    add('bomb.png', 'megapixel limit', lambda p: Image.new('1', (20000, 20000)).save(p))   # ~50 kB, 400 megapixels
    add('notes.jpg', 'not an image file', lambda p: p.write_text('shopping list: rice, beans'))
    return bad


def odd_images(tmp_path, photo) -> list:
    "Unusual but readable versions of a real photo: 16-bit grayscale, palette, RGBA, CMYK, tiny, extreme aspect, black, white."
    im = Image.open(photo).convert('RGB')
    out = {'gray16.png': Image.fromarray((np.asarray(im.convert('L'), np.uint16) * 257)), 'palette.png': im.convert('P'),
           'rgba.png': im.convert('RGBA'), 'cmyk.jpg': im.convert('CMYK'), 'tiny.png': im.resize((16, 16)),
           'strip.png': im.resize((1600, 20)), 'black.png': Image.new('RGB', (300, 200)),
           'white.png': Image.new('RGB', (300, 200), (255, 255, 255))}
    for name, img in out.items(): img.save(tmp_path/name)
    return [str(tmp_path/n) for n in out]

#!/usr/bin/env python3
# Builds scripts/device/corpus.txt on the development machine (needs the `bible` program);
# run from the repository root. The repository sources it samples change over time, so the
# committed corpus.txt, not this script, is what the fixtures were trained on.
import subprocess, random, pathlib
parts = []
parts.append(subprocess.run(["bible", "gen1:1-gen30:43"], capture_output=True, text=True, check=True).stdout)
for lic in ["Apache-2.0", "BSD"]:
    parts.append(pathlib.Path("/usr/share/common-licenses/" + lic).read_text())
code = []
for pat in ["pipeline/*.cpp", "pipeline/*.h", "io/*.h", "io/*.cpp", "analysis/*.h", "scripts/setup.sh", "CMakeLists.txt"]:
    for p in sorted(pathlib.Path(".").glob(pat)):
        code.append(p.read_text())
code_text = "\n".join(code)[:45000]
parts.append(code_text)
# Code with CRLF line endings and tabs.
parts.append("\r\n".join(code_text[:6000].replace("    ", "\t").split("\n")))
rng = random.Random(1234)
nums = []
for i in range(600):
    k = rng.randrange(7)
    if k == 0: nums.append(f"{rng.randrange(10**rng.randrange(1, 16))}")
    elif k == 1: nums.append(f"{rng.uniform(-1000, 1000):.{rng.randrange(1, 8)}f}")
    elif k == 2: nums.append(f"{rng.randrange(1900, 2030)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}")
    elif k == 3: nums.append(f"${rng.randrange(1, 10**6):,}.{rng.randrange(100):02d}")
    elif k == 4: nums.append(f"+1 ({rng.randrange(200, 999)}) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}")
    elif k == 5: nums.append(f"{rng.randrange(100)}% of {rng.randrange(10**5)} items at {rng.randrange(24):02d}:{rng.randrange(60):02d}")
    else: nums.append(f"0x{rng.randrange(16**8):08x} {rng.randrange(2**16):b}")
parts.append("\n".join(" ".join(nums[i:i + 6]) for i in range(0, len(nums), 6)))
multi = """Café, naïve, façade, résumé, déjà vu, crème brûlée, Ångström, Zürich, São Paulo, Ærøskøbing.
Der Bär läuft über die Straße, weil es schön ist. Ça va très bien, merci beaucoup !
El niño comió piñata y jalapeños en la mañana. Đây là tiếng Việt có dấu: Hà Nội, Sài Gòn, phở bò.
Москва — столица России. Ελληνικά γράμματα: αβγδε, Αθήνα. Türkçe: İstanbul, ığdır, şişli, çağ.
你好，世界！今天天气很好，我们去公园散步吧。中文文本包含标点符号：，。！？
学习是遗忘的过程，压缩是理解的开始。北京、上海、广州和深圳都是大城市。
日本語のテキストです。ひらがな、カタカナ、漢字を混ぜて書きます。東京は大きな都市です。
こんにちは、元気ですか？ありがとうございます。コンピューターとインターネット。
한국어 문장입니다. 안녕하세요, 만나서 반갑습니다. 서울은 한국의 수도입니다.
Emoji: 😀 😃 😄 😁 😆 👍 👍🏽 👍🏿 ❤️ 🔥 🎉 🚀 🤖 🐍 🦀 🌍 🇺🇸 🇯🇵 🇩🇪 🇫🇷
Families: 👨‍👩‍👧‍👦 👩‍👩‍👦 👨‍💻 👩‍🔬 🏳️‍🌈 🧑‍🤝‍🧑 ❤️‍🔥 and text 😀😀😀 after emoji 🎉🎉.
Contractions: I'm, you'll, they'd, it's, WE'RE, don't, can't, won't, she's, he'd, I'VE, You'RE.
Whitespace:   two  spaces,	tab,		two tabs,    four spaces,        eight spaces.
"""
parts.append(multi * 6)
text = "\n\n".join(parts)
pathlib.Path("scripts/device/corpus.txt").write_text(text, encoding="utf-8", newline="")
print(len(text.encode()))

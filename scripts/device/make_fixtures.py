#!/usr/bin/env python3
"""Makes ibzoo's transformers reference fixtures (see docs/FIXTURES.md).

For each family: trains a ~1,000-token tokenizer with the `tokenizers` library on
scripts/device/corpus.txt, laid out the way that family's published tokenizer.json is; builds a
tiny random model from the transformers config class with the family's quirks switched on; saves
both with save_pretrained / Tokenizer.save; and writes the reference token ids, hidden states
(float32, CPU, eager attention) and logits for scripts/device/texts.json. On a CUDA machine it
also records the bfloat16 CUDA error against the float32 CPU reference.

Run from the repository root on the CUDA machine: bash scripts/device/make_fixtures.sh
Needs torch, transformers 5.x, tokenizers, safetensors. Nothing is downloaded.
"""

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers  # noqa: E402
from tokenizers import pre_tokenizers, processors, trainers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = ["gpt2", "gpt_neox", "llama", "smollm2", "mistral", "qwen2", "olmo2", "gemma2"]
VOCAB_TARGET = 1000
LOGIT_TEXTS = 3      # logits are stored for texts 0..2 only (size)
BATCH_TEXTS = 3      # texts 0..2 also run together, right-padded
LONG_TEXT = 11       # the ~60+ token text used for the quirk-sensitivity checks
SPM = "\u2581"       # the SentencePiece meta space

# The cl100k / Llama-3 pre-tokenizer pattern (also OLMo2's dolma2 tokenizer) and Qwen2's (single digits).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------

def corpus_chunks():
    with open(os.path.join(HERE, "corpus.txt"), encoding="utf-8", newline="") as f:
        text = f.read()
    return [text[i:i + 2000] for i in range(0, len(text), 2000)]


def byte_level_pre(use_regex=True):
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)


def split_pre(pattern):
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        byte_level_pre(use_regex=False),
    ])


def template(bos, bos_id):
    return processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, bos_id)])


def spm_decoder(strip_leading):
    steps = [decoders.Replace(SPM, " "), decoders.ByteFallback(), decoders.Fuse()]
    if strip_leading:
        steps.append(decoders.Strip(" ", 1, 0))
    return decoders.Sequence(steps)


# Each spec: kind (byte_level | spm), normalizer, pre-tokenizer used for training and in the file,
# special tokens placed before the trained vocabulary (prefix, inside model.vocab) or after it
# (suffix; in_vocab says whether they are also model.vocab entries, as in GPT-2, or only added
# tokens, as in Llama 3 / Qwen2), the post-processor (a function of the final token->id map),
# the decoder, and BPE flags.
def tokenizer_spec(family):
    if family == "gpt2":
        return dict(kind="byte_level", normalizer=None, pre=byte_level_pre(), prefix=[],
                    suffix=["<|endoftext|>"], suffix_in_vocab=True,
                    post=lambda ids: processors.ByteLevel(trim_offsets=False),
                    decoder=decoders.ByteLevel(), ignore_merges=False,
                    special=dict(bos="<|endoftext|>", eos="<|endoftext|>", unk="<|endoftext|>"))
    if family == "gpt_neox":
        # Pythia / GPT-NeoX-20B: NFC, GPT-2 byte level, <|endoftext|>=0, <|padding|>=1, and
        # non-special added tokens for runs of 2..24 spaces (matched before the BPE model).
        return dict(kind="byte_level", normalizer=normalizers.NFC(), pre=byte_level_pre(),
                    prefix=["<|endoftext|>", "<|padding|>"], suffix=[], suffix_in_vocab=False,
                    plain_added=[" " * n for n in range(24, 1, -1)],
                    post=lambda ids: processors.ByteLevel(trim_offsets=True),
                    decoder=decoders.ByteLevel(), ignore_merges=False,
                    special=dict(bos="<|endoftext|>", eos="<|endoftext|>", unk="<|endoftext|>",
                                 pad="<|padding|>"))
    if family == "smollm2":
        # SmolLM2 (cosmo2 tokenizer): digits split one by one, then GPT-2 byte level.
        return dict(kind="byte_level", normalizer=None,
                    pre=pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 byte_level_pre()]),
                    prefix=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>",
                            "<file_sep>"],
                    suffix=[], suffix_in_vocab=False,
                    post=lambda ids: processors.ByteLevel(trim_offsets=False),
                    decoder=decoders.ByteLevel(), ignore_merges=False,
                    special=dict(bos="<|endoftext|>", eos="<|endoftext|>", unk="<|endoftext|>"))
    if family == "llama":
        suffix = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                  "<|reserved_special_token_1|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|reserved_special_token_2|>", "<|eot_id|>"]
        return dict(kind="byte_level", normalizer=None, pre=split_pre(LLAMA3_PATTERN), prefix=[],
                    suffix=suffix, suffix_in_vocab=False,
                    post=lambda ids: processors.Sequence([
                        processors.ByteLevel(trim_offsets=False),
                        template("<|begin_of_text|>", ids["<|begin_of_text|>"])]),
                    decoder=decoders.ByteLevel(), ignore_merges=True,
                    special=dict(bos="<|begin_of_text|>", eos="<|end_of_text|>"))
    if family == "qwen2":
        return dict(kind="byte_level", normalizer=normalizers.NFC(), pre=split_pre(QWEN2_PATTERN),
                    prefix=[], suffix=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                    suffix_in_vocab=False,
                    post=lambda ids: processors.ByteLevel(trim_offsets=False),
                    decoder=decoders.ByteLevel(), ignore_merges=False,
                    special=dict(eos="<|endoftext|>", pad="<|endoftext|>"))
    if family == "olmo2":
        return dict(kind="byte_level", normalizer=None, pre=split_pre(LLAMA3_PATTERN), prefix=[],
                    suffix=["<|endoftext|>", "<|pad|>"], suffix_in_vocab=False,
                    post=lambda ids: processors.ByteLevel(trim_offsets=False),
                    decoder=decoders.ByteLevel(), ignore_merges=False,
                    special=dict(eos="<|endoftext|>", pad="<|pad|>"))
    if family == "mistral":
        # Mistral v0.1 / Llama 2 layout: Prepend + Replace normalizer, no pre-tokenizer,
        # <unk> <s> </s> then <0x00>..<0xFF>, byte_fallback; "\n", "\r", "\t" only as bytes.
        return dict(kind="spm",
                    normalizer=normalizers.Sequence([normalizers.Prepend(SPM),
                                                     normalizers.Replace(" ", SPM)]),
                    pre=None, train_pre=pre_tokenizers.Split(SPM, behavior="merged_with_next"),
                    prefix=["<unk>", "<s>", "</s>"], suffix=[], suffix_in_vocab=False,
                    drop_chars="\n\r\t",
                    post=lambda ids: template("<s>", ids["<s>"]),
                    decoder=spm_decoder(strip_leading=True), ignore_merges=False,
                    special=dict(bos="<s>", eos="</s>", unk="<unk>"))
    if family == "gemma2":
        # Gemma layout: Replace normalizer (no dummy prefix), Split(" ") pre-tokenizer,
        # <pad> <eos> <bos> <unk> ... then byte tokens, byte_fallback.
        return dict(kind="spm", normalizer=normalizers.Replace(" ", SPM),
                    pre=pre_tokenizers.Split(" ", behavior="merged_with_previous"),
                    train_pre=pre_tokenizers.Split(SPM, behavior="merged_with_next"),
                    prefix=["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>",
                            "<end_of_turn>"],
                    suffix=[], suffix_in_vocab=False, drop_chars="",
                    post=lambda ids: template("<bos>", ids["<bos>"]),
                    decoder=spm_decoder(strip_leading=False), ignore_merges=False,
                    special=dict(bos="<bos>", eos="<eos>", unk="<unk>", pad="<pad>"))
    raise ValueError(family)


def merges_as_pairs(model_json):
    out = []
    for m in model_json["merges"]:
        out.append(tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]))
    return out


def train_tokenizer(family):
    spec = tokenizer_spec(family)
    is_spm = spec["kind"] == "spm"
    plain_added = spec.get("plain_added", [])
    n_bytes = 256 if is_spm else 0
    n_train = VOCAB_TARGET - len(spec["prefix"]) - len(spec["suffix"]) - len(plain_added) - n_bytes

    trainee = Tokenizer(models.BPE())
    if spec["normalizer"] is not None:
        trainee.normalizer = spec["normalizer"]
    trainee.pre_tokenizer = spec["train_pre"] if is_spm else spec["pre"]
    if is_spm:
        trainer = trainers.BpeTrainer(vocab_size=n_train, min_frequency=2, special_tokens=[],
                                      limit_alphabet=160, show_progress=False)
    else:
        trainer = trainers.BpeTrainer(vocab_size=n_train, min_frequency=2, special_tokens=[],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
    trainee.train_from_iterator(corpus_chunks(), trainer=trainer)
    trained_json = json.loads(trainee.to_str())["model"]
    trained_vocab = sorted(trained_json["vocab"].items(), key=lambda kv: kv[1])
    trained_tokens = [t for t, _ in trained_vocab]
    merges = merges_as_pairs(trained_json)

    drop = spec.get("drop_chars", "")
    if drop:
        trained_tokens = [t for t in trained_tokens if not any(c in t for c in drop)]
        kept = set(trained_tokens)
        merges = [(a, b) for a, b in merges if a in kept and b in kept and a + b in kept]

    vocab_list = list(spec["prefix"])
    if is_spm:
        vocab_list += [f"<0x{b:02X}>" for b in range(256)]
    vocab_list += [t for t in trained_tokens if t not in vocab_list]
    if spec["suffix_in_vocab"]:
        vocab_list += spec["suffix"]
    vocab = {t: i for i, t in enumerate(vocab_list)}
    assert len(vocab) == len(vocab_list), "duplicate token in the vocabulary"

    unk = "<unk>" if is_spm else None
    bpe = models.BPE(vocab=vocab, merges=merges, unk_token=unk, byte_fallback=is_spm,
                     fuse_unk=is_spm, ignore_merges=spec["ignore_merges"])
    tok = Tokenizer(bpe)
    if spec["normalizer"] is not None:
        tok.normalizer = spec["normalizer"]
    if spec["pre"] is not None:
        tok.pre_tokenizer = spec["pre"]
    tok.decoder = spec["decoder"]
    specials = list(spec["prefix"]) + list(spec["suffix"])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if plain_added:
        tok.add_tokens([AddedToken(t, special=False, normalized=True) for t in plain_added])
    ids = tok.get_vocab(with_added_tokens=True)
    tok.post_processor = spec["post"](ids)

    size = tok.get_vocab_size(with_added_tokens=True)
    assert sorted(ids.values()) == list(range(size)), "token ids are not contiguous"
    info = dict(vocab_size=size, model_vocab_entries=len(vocab), merges=len(merges),
                special_tokens={t: ids[t] for t in specials},
                plain_added_tokens=len(plain_added))
    return tok, spec, info


def tokenizer_config_files(tok, spec, dest):
    """Writes tokenizer_config.json (and whatever else transformers adds) next to tokenizer.json.
    Returns notes about what transformers did with the tokenizer."""
    notes = {}
    try:
        kwargs = {f"{k}_token": v for k, v in spec["special"].items()}
        fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
        with tempfile.TemporaryDirectory() as tmp:
            fast.save_pretrained(tmp)
            notes["transformers_saved_files"] = sorted(os.listdir(tmp))
            for name in os.listdir(tmp):
                if name == "tokenizer.json":
                    with open(os.path.join(tmp, name), encoding="utf-8") as f:
                        theirs = json.load(f)
                    ours = json.loads(tok.to_str())
                    notes["transformers_tokenizer_json_differs"] = theirs != ours
                    if theirs != ours:
                        notes["transformers_tokenizer_json_differs_in"] = sorted(
                            k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
                    continue
                shutil.copy(os.path.join(tmp, name), os.path.join(dest, name))
    except Exception as e:  # recorded, not fatal: tokenizer.json is the fixture
        notes["tokenizer_config_error"] = f"{type(e).__name__}: {e}"
    return notes


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

def round_up(n, m):
    return (n + m - 1) // m * m


def model_config(family, vocab_size, ids, spec):
    sp = spec["special"]
    bos = ids.get(sp["bos"]) if "bos" in sp else None
    eos = ids[sp["eos"]]
    pad = ids.get(sp["pad"]) if "pad" in sp else None
    llama_like = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    if family == "gpt2":
        return transformers.GPT2Config(
            vocab_size=vocab_size, n_positions=128, n_embd=64, n_layer=2, n_head=4, n_inner=128,
            activation_function="gelu_new", bos_token_id=bos, eos_token_id=eos,
            tie_word_embeddings=True)
    if family == "gpt_neox":
        return transformers.GPTNeoXConfig(
            vocab_size=round_up(vocab_size, 64), hidden_size=64, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=128, hidden_act="gelu",
            max_position_embeddings=128, use_parallel_residual=True, tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "partial_rotary_factor": 0.25},
            bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    if family == "llama":
        return transformers.LlamaConfig(
            vocab_size=vocab_size, rms_norm_eps=1e-5, tie_word_embeddings=False,
            rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 32},
            **llama_like)
    if family == "smollm2":
        return transformers.LlamaConfig(
            vocab_size=vocab_size, rms_norm_eps=1e-5, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 100000.0}, **llama_like)
    if family == "mistral":
        return transformers.MistralConfig(
            vocab_size=vocab_size, rms_norm_eps=1e-5, tie_word_embeddings=True, sliding_window=8,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **llama_like)
    if family == "qwen2":
        return transformers.Qwen2Config(
            vocab_size=round_up(vocab_size, 64), rms_norm_eps=1e-6, tie_word_embeddings=True,
            use_sliding_window=False,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, **llama_like)
    if family == "olmo2":
        return transformers.Olmo2Config(
            vocab_size=vocab_size, rms_norm_eps=1e-6, tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, **llama_like)
    if family == "gemma2":
        cfg = dict(llama_like)
        return transformers.Gemma2Config(
            vocab_size=vocab_size, head_dim=32, hidden_activation="gelu_pytorch_tanh",
            rms_norm_eps=1e-6, tie_word_embeddings=True, query_pre_attn_scalar=16,
            sliding_window=8, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **cfg)
    raise ValueError(family)


def build_model(config):
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    return model.float().eval()


def draw_parameters(model, family, seed):
    """Every parameter drawn: norm weights uniform(0.6, 1.4) (Gemma2 stores w of 1+w: (-0.4, 0.4)),
    everything else (embeddings, projections, biases, norm biases) normal(0, 0.08)."""
    gen = torch.Generator().manual_seed(seed)
    norm_weights = {}
    for mname, module in model.named_modules():
        if "norm" in type(module).__name__.lower():
            for pname, p in module.named_parameters(recurse=False):
                if pname == "weight":
                    norm_weights[id(p)] = f"{mname}.{pname}"
    drawn = {"norm_weight": [], "normal": 0}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if id(p) in norm_weights:
                lo, hi = (-0.4, 0.4) if family == "gemma2" else (0.6, 1.4)
                p.uniform_(lo, hi, generator=gen)
                drawn["norm_weight"].append(name)
            else:
                p.normal_(0.0, 0.08, generator=gen)
                drawn["normal"] += 1
    return drawn


def save_model(model, dest):
    try:
        model.save_pretrained(dest, safe_serialization=True)
    except TypeError:
        model.save_pretrained(dest)


def hidden_and_logits(model, ids, mask=None):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return torch.stack([h.float() for h in out.hidden_states]), out.logits.float()


def rel_err(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


def per_layer_rel(a, b):
    return [rel_err(a[i], b[i]) for i in range(b.shape[0])]


def quirk_variants(family, cfg):
    v = {}
    if family == "gpt_neox":
        v["use_parallel_residual=false"] = {"use_parallel_residual": False}
        v["partial_rotary_factor=1"] = {"rope_parameters": {"rope_type": "default",
                                                            "rope_theta": 10000.0,
                                                            "partial_rotary_factor": 1.0}}
    if family == "llama":
        v["rope_type=default"] = {"rope_parameters": {"rope_type": "default",
                                                      "rope_theta": 10000.0}}
    if family == "mistral":
        v["sliding_window=none"] = {"sliding_window": None}
    if family == "gemma2":
        v["attn_logit_softcapping=none"] = {"attn_logit_softcapping": None}
        v["final_logit_softcapping=none"] = {"final_logit_softcapping": None}
        v["query_pre_attn_scalar=head_dim(32)"] = {"query_pre_attn_scalar": 32}
        v["all_layers_full_attention"] = {"layer_types": ["full_attention"] * cfg.num_hidden_layers}
    return v


def quirk_sensitivity(family, model, ids):
    """How much each quirk changes the output on the long text: if one of these is tiny, a C++
    implementation that forgets the quirk could still pass the 1e-4 parity test."""
    res = {}
    ref_h, ref_l = hidden_and_logits(model, ids)
    for name, changes in quirk_variants(family, model.config).items():
        try:
            cfg = copy.deepcopy(model.config)
            for k, val in changes.items():
                setattr(cfg, k, val)
            other = build_model(cfg)
            other.load_state_dict(model.state_dict(), strict=True)
            h, lg = hidden_and_logits(other, ids)
            res[name] = {"hidden_max_rel": max(per_layer_rel(h[:, 0], ref_h[:, 0])),
                         "logits_rel": rel_err(lg, ref_l)}
        except Exception as e:
            res[name] = {"error": f"{type(e).__name__}: {e}"}
    return res


# ----------------------------------------------------------------------------------------------
# One family
# ----------------------------------------------------------------------------------------------

def make_family(family, index, texts, out_root, use_cuda):
    report = {"family": family}
    model_dir = os.path.join(out_root, "models", family)
    ref_dir = os.path.join(out_root, "reference")
    shutil.rmtree(model_dir, ignore_errors=True)
    os.makedirs(model_dir)
    os.makedirs(ref_dir, exist_ok=True)

    # Tokenizer.
    tok, spec, tinfo = train_tokenizer(family)
    tok_path = os.path.join(model_dir, "tokenizer.json")
    tok.save(tok_path)
    with open(tok_path, encoding="utf-8") as f:
        saved = json.load(f)
    first = saved["model"]["merges"][0]
    tinfo["merges_format"] = "pairs [a, b]" if isinstance(first, list) else 'strings "a b"'
    tinfo.update(tokenizer_config_files(tok, spec, model_dir))
    tok = Tokenizer.from_file(tok_path)  # the references come from the file as saved
    ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    ids_special = [tok.encode(t, add_special_tokens=True).ids for t in texts]
    assert all(len(x) > 0 for x in ids), "a text encoded to no tokens"
    assert max(len(x) for x in ids) <= 128, f"a text is longer than max positions: {[len(x) for x in ids]}"
    tinfo["lengths"] = [len(x) for x in ids]
    tinfo["byte_fallback_tokens_used"] = sum(
        1 for x in ids for i in x if tok.id_to_token(i).startswith("<0x"))
    vocab_ids = tok.get_vocab(with_added_tokens=True)
    report["tokenizer"] = tinfo
    log(f"[{family}] tokenizer: vocab {tinfo['vocab_size']}, merges {tinfo['merges']}, "
        f"lengths {tinfo['lengths']}, byte-fallback tokens {tinfo['byte_fallback_tokens_used']}")

    # Model.
    config = model_config(family, tinfo["vocab_size"], vocab_ids, spec)
    model = build_model(config)
    drawn = draw_parameters(model, family, seed=1000 + index)
    report["norm_weights_drawn"] = drawn["norm_weight"]
    report["other_parameters_drawn"] = drawn["normal"]
    save_model(model, model_dir)
    report["model_files"] = sorted(os.listdir(model_dir))
    try:
        auto = transformers.AutoTokenizer.from_pretrained(model_dir)
        a0 = [auto(t, add_special_tokens=False)["input_ids"] for t in texts]
        a1 = [auto(t, add_special_tokens=True)["input_ids"] for t in texts]
        tinfo["autotokenizer_class"] = type(auto).__name__
        tinfo["autotokenizer_agrees"] = a0 == ids
        tinfo["autotokenizer_agrees_with_special"] = a1 == ids_special
        if a0 != ids or a1 != ids_special:
            tinfo["autotokenizer_disagrees_on_texts"] = [
                k for k in range(len(texts)) if a0[k] != ids[k] or a1[k] != ids_special[k]]
    except Exception as e:
        tinfo["autotokenizer_error"] = f"{type(e).__name__}: {e}"
    ref_model = transformers.AutoModelForCausalLM.from_pretrained(
        model_dir, attn_implementation="eager", dtype=torch.float32).eval()
    sd0, sd1 = model.state_dict(), ref_model.state_dict()
    report["reload_max_abs_diff"] = max(float((sd0[k] - sd1[k]).abs().max()) for k in sd0)
    report["attn_implementation"] = getattr(ref_model.config, "_attn_implementation", None)
    rot = [b for n, b in ref_model.named_buffers() if n.endswith("inv_freq")]
    report["rotary_inv_freq"] = [float(x) for x in rot[0]] if rot else None
    n_layers = ref_model.config.num_hidden_layers

    tensors = {}
    for k, x in enumerate(ids):
        t = torch.tensor([x], dtype=torch.int64)
        h, lg = hidden_and_logits(ref_model, t)
        assert h.shape[0] == n_layers + 1
        tensors[f"input_ids_{k}"] = t[0].clone()
        tensors[f"hidden_states_{k}"] = h[:, 0].contiguous()
        if k < LOGIT_TEXTS:
            tensors[f"logits_{k}"] = lg[0].contiguous()
    # Is hidden_states[-1] the final-normed output of the base model?
    with torch.no_grad():
        t = tensors[f"input_ids_{LONG_TEXT}"][None]
        last = ref_model.base_model(input_ids=t).last_hidden_state[0]
    report["last_hidden_state_is_final_normed"] = bool(
        torch.allclose(last, tensors[f"hidden_states_{LONG_TEXT}"][-1], rtol=0, atol=1e-6))

    # Batched reference: texts 0..2, right padding, attention mask.
    pad_id = config.pad_token_id if config.pad_token_id is not None else vocab_ids[spec["special"]["eos"]]
    tmax = max(len(ids[k]) for k in range(BATCH_TEXTS))
    batch = torch.full((BATCH_TEXTS, tmax), pad_id, dtype=torch.int64)
    mask = torch.zeros((BATCH_TEXTS, tmax), dtype=torch.int64)
    for k in range(BATCH_TEXTS):
        batch[k, :len(ids[k])] = torch.tensor(ids[k])
        mask[k, :len(ids[k])] = 1
    hb, _ = hidden_and_logits(ref_model, batch, mask)
    tensors["input_ids_batch"] = batch
    tensors["attention_mask_batch"] = mask
    tensors["hidden_states_batch"] = hb.contiguous()
    report["batch_pad_token_id"] = int(pad_id)
    report["batch_vs_single_max_rel"] = max(
        rel_err(hb[:, k, :len(ids[k])], tensors[f"hidden_states_{k}"]) for k in range(BATCH_TEXTS))

    meta = {"family": family, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "torch": torch.__version__}
    save_file(tensors, os.path.join(ref_dir, f"{family}.safetensors"), metadata=meta)
    with open(os.path.join(ref_dir, f"{family}_tokens.json"), "w", encoding="utf-8") as f:
        json.dump({"family": family, "texts": texts, "ids": ids, "ids_with_special": ids_special,
                   "logits_texts": list(range(LOGIT_TEXTS)),
                   "batch_texts": list(range(BATCH_TEXTS)), "batch_pad_token_id": int(pad_id),
                   "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                   "torch": torch.__version__}, f, ensure_ascii=False, indent=1)

    report["quirk_sensitivity"] = quirk_sensitivity(
        family, ref_model, tensors[f"input_ids_{LONG_TEXT}"][None])

    # bfloat16 on CUDA against the float32 CPU reference.
    if use_cuda:
        # Loaded the way a user would (rotary inv_freq stays float32), then moved to the GPU.
        cuda_model = transformers.AutoModelForCausalLM.from_pretrained(
            model_dir, attn_implementation="eager", dtype=torch.bfloat16).to("cuda").eval()
        worst = [0.0] * (n_layers + 1)
        logits_worst = 0.0
        for k in range(len(ids)):
            h, lg = hidden_and_logits(cuda_model, tensors[f"input_ids_{k}"][None].cuda())
            errs = per_layer_rel(h[:, 0].cpu(), tensors[f"hidden_states_{k}"])
            worst = [max(a, b) for a, b in zip(worst, errs)]
            if k < LOGIT_TEXTS:
                logits_worst = max(logits_worst, rel_err(lg[0].cpu(), tensors[f"logits_{k}"]))
        report["cuda_bf16"] = {"hidden_max_rel_per_layer": worst, "hidden_max_rel": max(worst),
                               "logits_max_rel": logits_worst}
        del cuda_model
    log(f"[{family}] done: reload diff {report['reload_max_abs_diff']}, "
        f"batch rel {report['batch_vs_single_max_rel']:.2e}, "
        f"bf16 {report.get('cuda_bf16', {}).get('hidden_max_rel')}, "
        f"quirks {json.dumps(report['quirk_sensitivity'])}")
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-root", default="tests/fixtures", help="fixtures root (models/, reference/)")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--report", default=None, help="also copy the generation report here")
    args = ap.parse_args()

    torch.set_num_threads(min(8, os.cpu_count() or 1))
    with open(os.path.join(HERE, "texts.json"), encoding="utf-8") as f:
        texts = json.load(f)["texts"]
    use_cuda = torch.cuda.is_available()
    versions = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "torch": torch.__version__, "safetensors": safetensors.__version__,
                "python": sys.version.split()[0],
                "cuda_device": torch.cuda.get_device_name(0) if use_cuda else None}
    log(f"versions: {versions}")

    reports, failed = {}, []
    for family in args.families.split(","):
        try:
            reports[family] = make_family(family, FAMILIES.index(family), texts, args.out_root,
                                          use_cuda)
        except Exception:
            failed.append(family)
            reports[family] = {"error": traceback.format_exc()}
            log(f"[{family}] FAILED\n{traceback.format_exc()}")

    ref_dir = os.path.join(args.out_root, "reference")
    os.makedirs(ref_dir, exist_ok=True)
    report_path = os.path.join(ref_dir, "generation_report.json")
    old = {}
    if os.path.exists(report_path):  # a re-run of some families keeps the others' entries
        with open(report_path, encoding="utf-8") as f:
            old = json.load(f).get("families", {})
    old.update(reports)
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump({"versions": versions, "families": old}, f, indent=1, ensure_ascii=False)
    bf16 = {fam: r.get("cuda_bf16") for fam, r in old.items()}
    with open(os.path.join(ref_dir, "cuda_bf16.json"), "w", encoding="utf-8") as f:
        json.dump({"versions": versions, "metric": "max over texts of ||bf16_cuda - f32_cpu|| / "
                   "||f32_cpu|| per hidden-state layer", "families": bf16}, f, indent=1)
    if args.report:
        shutil.copy(report_path, args.report)
    log(f"failed: {failed}" if failed else "all families done")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

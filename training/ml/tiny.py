"""Build tiny offline models for tests and demos: a Llama policy and a Llama reward model.

    python -m training.ml.tiny OUT_DIR      # writes OUT_DIR/policy and OUT_DIR/reward

Both share one byte-level BPE tokenizer trained here on a small built-in English corpus (or on a
text file), so nothing is downloaded. The tokenizer has distinct BOS, EOS and PAD tokens and a
chat template whose assistant turns end with EOS: a reward model then always reads a final EOS,
and a policy learns to stop. The weights are random; the models exist to exercise the code paths.
"""

import argparse
import sys
from pathlib import Path

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]

# Every turn is "<|role|>\n{content}<|eos|>"; the generation prompt opens an assistant turn.
# A prompt rendered with the generation prompt is a prefix of the same prompt plus its answer,
# which TRL's SFT and DPO trainers rely on to find where the completion starts.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

CORPUS = """\
The quick brown fox jumps over the lazy dog. A good answer is short, correct and polite.
Please explain how a reward model is trained from human preferences. People compare two answers
to the same question and pick the better one. The model learns to give the better answer a
higher score. Then a policy is trained to write answers that the reward model likes, while a
penalty keeps it close to the model it started from. What is the capital of France? Paris is
the capital of France. How many legs does a spider have? A spider has eight legs. Write a poem
about the sea. The sea is wide and blue, the waves come in and out, the wind is cold and new.
Thank you for your question. I am not sure, but I think the answer is yes. Here is a list:
one, two, three, four, five, six, seven, eight, nine, ten. Water boils at one hundred degrees.
The sun rises in the east and sets in the west. Cats sleep a lot; dogs like to play outside.
Summarise the text in one sentence. Translate the word "hello" into French: bonjour.
"""


def build_tokenizer(text: str, vocab_size: int = 512):  # -> PreTrainedTokenizerFast
    """Train a byte-level BPE tokenizer on `text` and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = [PAD, BOS, EOS, *ROLE_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte can be encoded
        show_progress=False,
    )
    tokenizer.train_from_iterator(text.splitlines(), trainer=trainer)
    # Plain-text inputs get a BOS (as Llama's tokenizer does); chat-templated ones bring their own.
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=ROLE_TOKENS,
        padding_side="right",
        model_max_length=512,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def _llama_config(tokenizer, **overrides):  # -> LlamaConfig
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        **overrides,
    )


def build_tiny_models(
    out_dir: str | Path, corpus: str | None = None, seed: int = 0
) -> dict[str, Path]:
    """Write `out_dir/policy` (causal LM) and `out_dir/reward` (1-label classifier)."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM, LlamaForSequenceClassification

    out = Path(out_dir)
    tokenizer = build_tokenizer(corpus if corpus is not None else CORPUS)
    torch.manual_seed(seed)

    policy = LlamaForCausalLM(_llama_config(tokenizer))
    policy.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=32,
    )
    reward = LlamaForSequenceClassification(_llama_config(tokenizer, num_labels=1))

    paths = {"policy": out / "policy", "reward": out / "reward"}
    for name, model in (("policy", policy), ("reward", reward)):
        model.save_pretrained(paths[name])
        tokenizer.save_pretrained(paths[name])
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("out_dir", help="directory that receives policy/ and reward/")
    parser.add_argument(
        "--corpus", help="train the tokenizer on this text file instead of the built-in one"
    )
    args = parser.parse_args(argv)
    corpus = Path(args.corpus).read_text(encoding="utf-8") if args.corpus else None
    paths = build_tiny_models(args.out_dir, corpus=corpus)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LM1B (One Billion Word) next-byte prediction with a 6-layer decoder-only Transformer.

    playbook train --config configs/lm1b_transformer.py --workdir runs/lm1b_transformer

Data: TFDS `lm1b` in ArrayRecord format (`tfds build lm1b
--file_format=array_record`), one sentence per example as UTF-8 bytes,
128 tokens; 10,000 training sentences carved for validation; test is lm1b's
test split. Without data: `--config.data.source=synthetic` (Markov-chain
sequences; a perfect model reaches next-token accuracy ~0.8).
Model: width 512, 6 layers, 8 heads, MLP 2048 (the Flax lm1b example's size),
bfloat16 compute. AdamW 1e-3 with 1,000 warmup steps, cosine, batch 256,
100k steps. Selection metric: valid/loss in nats per byte (perplexity is
exp(loss); bits per byte is loss / ln 2). Expected: no published number for
byte-level LM1B at this size; character-level Transformers of this size reach
about 1.1-1.3 bits per character on English text (Al-Rfou et al. 2019 report
1.13 on text8 with 12 layers), so expect valid/loss around 0.8-0.9.
Hardware: one GPU or TPU chip; not measured here.
"""

from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config() -> ConfigDict:
    c = config_lib.training_defaults()
    c.workload = "lm"
    c.data = ConfigDict(dict(source="tfds", tfds_name="lm1b", text_key="text", data_dir="",
                             seed=0, seq_len=128, num_valid=10000, num_workers=0,
                             vocab_size=64, num_train=2048, num_test=256, follow=0.8))
    c.model = ConfigDict(dict(name="transformer_lm", width=512, depth=6, num_heads=8,
                              mlp_dim=2048, max_len=128, dropout=0.0, dtype="bfloat16"))
    c.optimizer = "adamw"
    c.learning_rate = 1e-3
    c.b2 = 0.98
    c.weight_decay = 0.01
    c.grad_clip_norm = 1.0
    c.batch_size = 256
    c.max_train_steps = 100000
    c.warmup_steps = 1000
    c.eval_every_steps = 2500
    c.log_every_steps = 100
    c.metric = "valid/loss"
    c.distributed = False  # True on multi-host TPU slices (experiments/tpu)
    return c

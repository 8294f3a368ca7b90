"""Random-access TFDS data sources (`tfds.data_source`, ArrayRecord files).

Random access is what lets the training loop read the examples of any step
directly (`playbook.data.records`); it needs a dataset prepared in the
ArrayRecord format. Nothing is downloaded at training time: a missing or
TFRecord-only dataset is a ConfigError saying how to prepare it. ImageNet
cannot be downloaded by TFDS at all: its archives must be fetched by hand into
a manual_dir first.
"""

from __future__ import annotations

from typing import Any

from playbook.errors import ConfigError

_PREPARE = {
    "imagenet2012": ("download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from "
                     "image-net.org into MANUAL_DIR, then: tfds build imagenet2012 "
                     "--manual_dir=MANUAL_DIR --file_format=array_record --data_dir={data_dir}"),
}
_DEFAULT_PREPARE = "tfds build {name} --file_format=array_record --data_dir={data_dir}"


def prepare_command(name: str, data_dir: str | None) -> str:
    """The shell command that prepares `name` for `data_source`."""
    template = _PREPARE.get(name.split(":")[0].split("/")[0], _DEFAULT_PREPARE)
    return template.format(name=name, data_dir=data_dir or "~/tensorflow_datasets")


def data_source(name: str, split: str, data_dir: str | None = None) -> Any:
    """The random-access source of `name`'s `split` (records are dicts of numpy values)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ConfigError("data.source='tfds' needs tensorflow-datasets; pip install "
                          "'playbook[tfds]' (or use data.source='synthetic')") from None
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
    except Exception as e:  # TFDS raises several kinds for a missing or unusable dataset.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"TFDS dataset '{name}' split '{split}' cannot be read from "
                          f"{data_dir or 'the default data_dir'} ({first}); prepare it with: "
                          f"{prepare_command(name, data_dir)}") from None

"""The dates source, character tokenisation and the seq2seq task on tiny untrained models."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from kerasforge import models
from kerasforge.pipelines.data.pipeline import load_source
from kerasforge.pipelines.data.sources.dates import FORMATS, format_date, generate_dates
from kerasforge.pipelines.data.types import DataInfo, Splits
from kerasforge.pipelines.errors import DataError
from kerasforge.pipelines.tasks import get_task
from tests.conftest import ROOT

INFO = DataInfo("dates", "text", "text")


def python_greedy(model, task, sources) -> np.ndarray:
    """Greedy decoding as a Python loop over the teacher-forced Keras model: each step
    feeds the ids chosen so far back; returns the probabilities ``[N, T, ids]``."""
    import tensorflow as tf

    source = tf.constant(np.asarray(sources, dtype=object))
    decoder_input = np.full((len(sources), 1), task.start_id, dtype="int32")
    for _ in range(task.target_length):
        inputs = {"source": source, "decoder_input": tf.constant(decoder_input)}
        probabilities = model(inputs, training=False).numpy()
        chosen = probabilities[:, -1:].argmax(-1).astype("int32")
        decoder_input = np.concatenate([decoder_input, chosen], axis=1)
    return probabilities


def tiny(name: str = "seq2seq_bahdanau", count: int = 12):
    """A tiny untrained task model over ``count`` generated dates, the task and the data."""
    x, y = generate_dates(count, seed=3)
    task = get_task("seq2seq", {"max_source_length": 9})
    entry = models.get_entry(name)
    arguments = task.builder_arguments(entry, Splits(x, y, x, y, x, y, INFO))
    backbone = models.build_model(name, **arguments, embedding_dim=4, units=6)
    return task.assemble(backbone, entry, INFO, x, y), task, x, y


def test_dates_are_seeded_and_every_format_names_its_date():
    x, y = generate_dates(200, seed=7)
    again, same = generate_dates(200, seed=7)
    assert x.tolist() == again.tolist() and y.tolist() == same.tolist()
    assert generate_dates(200, seed=8)[0].tolist() != x.tolist()
    day = dt.date(2021, 3, 3)
    written = {format_date(day, f) for f in FORMATS}
    assert {"3 March 2021", "03/03/21", "Wednesday, March 3, 2021", "2021 Mar 3"} <= written
    assert all(dt.date.fromisoformat(t) for t in y), "targets are ISO 8601"
    data = load_source("dates")
    assert data.info.inputs == "text" and data.info.targets == "text"
    assert len(set(data.y)) > 5000 and data.x[0] == load_source("dates").x[0]


def test_tokenizer_round_trip_and_unknown_characters():
    import tensorflow as tf

    from kerasforge.models.chars import CharTokenizer, char_vocabulary, ids_to_text
    from kerasforge.serving.edge.text import encode_sources

    vocabulary = char_vocabulary(["3 March 2021", "2021-03-03"])
    tokenizer = CharTokenizer(vocabulary, 12, name="tokenizer")
    ids = tokenizer(tf.constant(["3 March 2021", "Zz", ""])).numpy()
    assert ids.shape == (3, 12) and ids.dtype == np.int32
    assert ids_to_text(ids, vocabulary).numpy().tolist() == [b"3 March 2021", b"", b""]
    assert ids[1, :2].tolist() == [1, 1] and not ids[2].any(), "unknown is 1, padding 0"
    tokens = ["", "[UNK]", *vocabulary]
    np.testing.assert_array_equal(encode_sources(["3 March 2021", "Zz", ""], tokens, 12), ids)


def test_training_pairs_teacher_force_the_shifted_target():
    _, task, x, y = tiny()
    inputs, target = task.training_pairs(x, y)
    assert target.shape == (len(y), task.target_length) == inputs["decoder_input"].shape
    assert (inputs["decoder_input"][:, 0] == task.start_id).all()
    np.testing.assert_array_equal(inputs["decoder_input"][:, 1:], target[:, :-1])
    assert (target[:, -1] == task.end_id).all(), "every ISO date is 10 characters + end"


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["seq2seq_bahdanau", "seq2seq_luong", "seq2seq_plain"])
def test_greedy_decoding_in_the_graph_equals_the_python_loop(name):
    from kerasforge.pipelines.tasks.seq2seq.training import decode
    from kerasforge.serving.edge.text import decode_ids

    model, task, x, _ = tiny(name)
    decoded, attention = decode(model, task.target_length, task.start_id, x)
    expected = python_greedy(model, task, x)
    ids = expected.argmax(-1)
    assert decoded.tolist() == decode_ids(ids, task.tokens, task.end_id)
    if name == "seq2seq_plain":
        assert attention is None
    else:
        assert attention.shape == (len(x), task.target_length, task.source_length)
        np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)


def test_card_describes_lengths_tokens_and_the_tokeniser():
    _, task, _, _ = tiny()
    card = task.card("seq2seq_luong", INFO)
    facts = card.data["seq2seq"]
    assert card.task == "seq2seq" and card.headline.metric == "exact_match"
    assert facts["source_length"] == 9 and facts["output_length"] == 11
    assert facts["tokens"][facts["start_id"]] == "[START]"
    assert facts["tokens"][facts["end_id"]] == "[END]"
    assert "inside the model" in card.preprocessing["tokenization"]


def test_text_targets_are_refused_by_other_tasks_and_empty_strings_by_validation():
    from kerasforge.pipelines.data.types import Dataset
    from kerasforge.pipelines.data.validate import check_dataset

    with pytest.raises(DataError, match="expects series inputs with values as targets"):
        get_task("forecasting").check_data(INFO)
    bad = Dataset(np.array(["3 May 2020", ""], object), np.array([" ", "x"], object), INFO)
    inputs, targets = check_dataset(bad)
    assert inputs.level == "error" and "1 inputs are empty texts (first: [1])" in inputs.message
    assert targets.level == "error" and "1 targets are empty texts (first: [0])" in targets.message


def test_text_augmentation_is_refused_for_paired_texts():
    from kerasforge.pipelines.config.experiment import ConfigError, load_config

    config = ROOT / "configs" / "dates_seq2seq_bahdanau.yaml"
    with pytest.raises(ConfigError, match=r"data\.augmentation\.text: task 'seq2seq' pairs"):
        load_config(config, ["data.augmentation.text.swap_rate=0.1"])

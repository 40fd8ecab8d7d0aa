"""The first hour's friction: word figures readable on every cell colour, wide tables as HTML tables."""

import matplotlib
import pytest
import torch

from attnlab.faithfulness.report import FaithfulnessTable, MethodFaithfulness
from attnlab.plots.attention import plot_token_scores, text_colour
from attnlab.selfcheck import forgotten_quotes

matplotlib.use("Agg")


def test_words_are_white_on_dark_cells_and_black_on_light_ones():
    assert text_colour(matplotlib.colormaps["Blues"](1.0)) == "white"  # dark navy
    assert text_colour(matplotlib.colormaps["Blues"](0.0)) == "black"
    assert text_colour(matplotlib.colormaps["RdBu"](0.0)) == "white"  # dark red
    assert text_colour(matplotlib.colormaps["RdBu"](0.5)) == "black"


def _words_and_bar(fig):
    ax = fig.axes[0]
    words = {t.get_text(): t for t in ax.texts}
    return words, fig.axes[1]


def test_scores_that_cannot_be_negative_use_a_sequential_map_from_zero():
    words = ["[CLS]", "great", "film"]
    fig = plot_token_scores(words, torch.tensor([0.1, 0.8, 0.1]))
    shown, bar = _words_and_bar(fig)
    assert bar.get_xlim() == pytest.approx((0.0, 1.0))
    assert shown["great"].get_color() == "white" and shown["film"].get_color() == "black"
    signed = plot_token_scores(words, torch.tensor([-0.5, 0.8, 0.1]))
    assert _words_and_bar(signed)[1].get_xlim() == pytest.approx((-1.0, 1.0))


def _row(name: str) -> MethodFaithfulness:
    return MethodFaithfulness(
        name,
        [0.5],
        [0.5],
        0.5,
        0.5,
        0.5,
        0.5,
        tau={"leave-one-out": 0.25},
        tau_magnitude={},
        attention_flip_fraction=0.5,
    )


def test_the_faithfulness_table_is_an_html_table_in_jupyterlab():
    table = FaithfulnessTable(
        rows=[_row("raw attention"), _row("<gold>")], bins=(0.1,), n_examples=4, references=("leave-one-out",)
    )
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and html.count("<th ") == 7  # a header and a row per method; 7 columns
    assert "&lt;gold&gt;" in html and "<td" in html and "0.250" not in html and "0.25" in html


def test_a_letter_without_quotes_gets_the_quotes_message_and_nothing_else_does():
    assert forgotten_quotes("ANSWER_7", "D") == 'ANSWER_7 is not set: did you forget the quotes? Write ANSWER_7 = "D"'
    assert forgotten_quotes("ANSWER_7", "my_answer") is None

"""Fixtures of the evaluation tests: benchmark-shaped local data with generated images."""

import json

import pytest
from PIL import Image, ImageDraw


def shapes_image(n: int) -> Image.Image:
    im = Image.new("RGB", (112, 112), "white")
    draw = ImageDraw.Draw(im)
    for i in range(n):
        draw.ellipse((8 + 24 * i, 40, 28 + 24 * i, 60), fill="red")
    return im


@pytest.fixture
def mathvista_like(tmp_path):
    """A MathVista-shaped testmini.json (dict keyed by pid, `query`, image paths relative to the file)."""
    (tmp_path / "images").mkdir()
    problems = {}
    for i in range(1, 5):
        shapes_image(i).save(tmp_path / "images" / f"{i}.png")
        mc = i % 2 == 0
        problems[str(i)] = {
            "pid": str(i),
            "question": "How many red circles?",
            "image": f"images/{i}.png",
            "choices": [str(i - 1), str(i), str(i + 1)] if mc else None,
            "unit": None,
            "precision": None,
            "answer": str(i),
            "question_type": "multi_choice" if mc else "free_form",
            "answer_type": "text" if mc else "integer",
            "metadata": {
                "language": "english",
                "source": "synthetic",
                "category": "math-targeted-vqa",
                "task": "visual question answering",
                "context": "synthetic scene",
                "grade": "daily life",
                "skills": ["arithmetic reasoning"],
            },
            "query": "Hint: Please answer the question.\nQuestion: How many red circles?",
        }
    path = tmp_path / "testmini.json"
    path.write_text(json.dumps(problems))
    return path


@pytest.fixture
def make_image():
    """n red circles on a white 112 px square."""
    return shapes_image

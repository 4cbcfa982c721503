"""The perception data engine: captioned images -> written multiple choice -> perception-sensitive filter ->
training sets. `build_perception_set` runs all of it for the procedural world with the offline writer."""

from stagewise.data.perception.pipeline import build_perception_set

__all__ = ["build_perception_set"]

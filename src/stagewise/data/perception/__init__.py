"""The perception data engine: captioned images -> written multiple choice -> perception-sensitive filter ->
training sets. `pipeline.build_perception_set` runs all of it for the procedural world with the offline
writer. Nothing is imported here, so that the recipe can embed the filter's rule (`rule.FilterRule`) without
loading the engine."""

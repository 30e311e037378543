"""For plugin authors: a new plugin project (:mod:`.scaffold`, ``templates/``), the test
harness (:mod:`.testing`, also a pytest plugin) and synthetic cities (:mod:`.citygen`)."""

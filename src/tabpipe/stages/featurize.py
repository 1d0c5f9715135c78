"""featurize: fit the feature transformer on the training rows, apply it to every split."""

from tabpipe import io
from tabpipe.config import load_section
from tabpipe.core.features import build_transformer
from tabpipe.errors import stage_main


@stage_main("featurize")
def main() -> None:
    cfg = load_section("featurize")
    columns = io.read_json(io.COLUMNS)
    target = columns["target"]
    task = columns.get("task", "binary")
    transformer = build_transformer(
        cfg, columns["numeric"], columns["categorical"], cfg.seed, task, columns.get("continuous")
    )
    train = io.read_parquet(io.BALANCED_TRAIN)
    transformer.fit(train.drop(columns=[target]), train[target])
    io.save_model(transformer, io.TRANSFORMER)
    sources = {"train": train, "test": None}
    for split, frame in sources.items():
        frame = io.read_parquet(io.split_path(split)) if frame is None else frame
        matrix = transformer.transform(frame.drop(columns=[target]))
        io.write_parquet(
            matrix.assign(**{target: frame[target].to_numpy()}), io.features_path(split)
        )
    print(
        f"featurize: {matrix.shape[1]} features "
        f"from {len(columns['numeric']) + len(columns['categorical'])} columns"
    )


if __name__ == "__main__":
    main()

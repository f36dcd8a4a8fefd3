"""Write the example data sets under data/ (deterministic: the same files every run).

- breast_cancer.csv and diabetes.csv are scikit-learn's bundled sets with an id column added.
- retail_sell_through.csv is a generated weekly sell-through panel with categorical, boolean,
  missing and date columns, for the timeseries recipe.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

OUT = Path(__file__).resolve().parents[1] / "data"


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def breast_cancer() -> pd.DataFrame:
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=snake)
    frame["diagnosis"] = np.where(frame.pop("target") == 1, "benign", "malignant")
    frame.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(frame))])
    return frame.round(6)


def diabetes() -> pd.DataFrame:
    bunch = load_diabetes(as_frame=True, scaled=False)
    frame = bunch.frame.rename(columns={"target": "disease_progression"})
    frame.insert(0, "patient_id", range(1, len(frame) + 1))
    return frame


def retail(weeks: int = 52, stores: int = 6, skus: int = 10, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    categories = ["beverages", "snacks", "dairy", "household", "produce"]
    regions = ["north", "south", "east"]
    start = pd.Timestamp("2024-01-01")
    rows = []
    sku_category = {s: categories[s % len(categories)] for s in range(skus)}
    sku_base = {s: rng.uniform(20, 120) for s in range(skus)}
    sku_price = {s: round(rng.uniform(1.5, 12.0), 2) for s in range(skus)}
    for store in range(stores):
        region = regions[store % len(regions)]
        store_factor = rng.uniform(0.7, 1.4)
        for sku in range(skus):
            for week in range(weeks):
                date = start + pd.Timedelta(weeks=week)
                promo = bool(rng.random() < 0.2)
                discount = round(float(rng.uniform(0.05, 0.3)), 2) if promo else 0.0
                season = 1 + 0.3 * np.sin(2 * np.pi * week / 52)
                price = sku_price[sku] * (1 - discount)
                demand = sku_base[sku] * store_factor * season * (1 + 1.5 * discount)
                stock = int(demand * rng.uniform(0.9, 1.6))  # opening stock, known before the week
                units = min(stock, max(0, int(rng.poisson(demand))))
                rows.append(
                    {
                        "store_id": f"S{store:02d}",
                        "sku": f"SKU{sku:03d}",
                        "week_start": date.date().isoformat(),
                        "category": sku_category[sku],
                        "region": region,
                        "price": round(price, 2) if rng.random() > 0.03 else np.nan,
                        "discount_pct": discount,
                        "on_promotion": promo,
                        "stock_units": stock,
                        "units_sold": units,
                    }
                )
    return pd.DataFrame(rows)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    breast_cancer().to_csv(OUT / "breast_cancer.csv", index=False)
    diabetes().to_csv(OUT / "diabetes.csv", index=False)
    retail().to_csv(OUT / "retail_sell_through.csv", index=False)
    for path in sorted(OUT.glob("*.csv")):
        print(f"{path.relative_to(OUT.parent)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

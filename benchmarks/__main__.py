from benchmarks import bench_model, bench_pipeline

bench_model.main()
bench_pipeline.main()

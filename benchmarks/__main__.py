from benchmarks import bench_model, bench_pipeline, bench_results

bench_model.main()
bench_pipeline.main()
bench_results.main()

// plain-cxx: an ordinary C++ program (built -static), for moves: iostream,
// exceptions, the standard containers and clocks.
//
//   plain-cxx [STEPS]
//
// Every 100 ms it takes one step and prints "step N" through std::cout;
// with STEPS it exits 0 after that many.  Each step grows a vector of
// strings (the heap), throws an exception through two frames and catches it
// (the unwinder reads the program's own .eh_frame), reads steady_clock,
// which must not go back, and checks everything it kept so far.  Anything
// wrong: "plain-cxx: ..." on stderr and exit 1.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void wrong(const std::string &what)
{
	std::cerr << "plain-cxx: " << what << std::endl;
	std::exit(1);
}

long thrown_through(long step)
{
	throw std::runtime_error("step " + std::to_string(step));
}

long catches(long step)
{
	try {
		return thrown_through(step);
	} catch (const std::runtime_error &e) {
		if (e.what() != "step " + std::to_string(step))
			wrong(std::string("caught the wrong exception: ") + e.what());
		return step;
	}
}

} // namespace

int main(int argc, char **argv)
{
	long steps = argc > 1 ? std::atol(argv[1]) : -1;
	std::vector<std::string> kept;
	auto last = std::chrono::steady_clock::now();

	for (long step = 1; steps < 0 || step <= steps; step++) {
		auto now = std::chrono::steady_clock::now();

		if (now < last)
			wrong("steady_clock went back at step " + std::to_string(step));
		last = now;
		for (int i = 0; i < 64; i++)
			kept.push_back(std::string(1000, static_cast<char>('a' + step % 26)));
		for (size_t i = 0; i < kept.size(); i++)
			if (kept[i][999] != static_cast<char>('a' + (i / 64 + 1) % 26))
				wrong("kept string " + std::to_string(i) + " changed");
		if (catches(step) != step)
			wrong("the exception lost its step");
		std::cout << "step " << step << std::endl;
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
	return 0;
}

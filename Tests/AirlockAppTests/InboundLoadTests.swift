import AirlockApp
import AirlockDomain
import AirlockTesting
import AirlockWorkflow
import Foundation
import Testing

@Suite("Acks before background work")
struct InboundLoadTests {
    @Test("While webhooks pile up, one job worker sends answers; when they are acked, the others help again")
    func workersGiveWayDuringABurst() async throws {
        try await withFakeSlack { slack in
            // Each DM takes 300 ms at the platform, so DMs that are sent concurrently overlap there.
            slack.setLatency(.milliseconds(300), for: "chat.postMessage")
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: { $0.workers = 4 }) { app in
                let load = app.inboundLoad
                let release = AsyncStream<Void>.makeStream()
                // A burst: `pressure` webhooks held in flight in the running Airlock's count.
                let held = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<load.pressure {
                            group.addTask { await load.handling { for await _ in release.stream {} } }
                        }
                    }
                }
                #expect(await eventually { load.current == load.pressure })
                for index in 0..<4 {
                    let response = try await app.event(
                        SlackEvents.mention(
                            eventID: "EvBurst\(index)",
                            user: "U0BURST\(index)",
                            text: "<@U0BOT> how do I rotate keys?"
                        )
                    )
                    #expect(response.status == 200)
                }
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (0..<4).allSatisfy { !slack.directMessages(to: "U0BURST\($0)").isEmpty }
                    }
                )
                #expect(
                    slack.mostInFlight("chat.postMessage") == 1,
                    "answers were sent \(slack.mostInFlight("chat.postMessage")) at a time during the burst"
                )

                release.continuation.finish()
                await held.value
                #expect(load.current == 0)
                slack.resetMostInFlight()
                for index in 0..<4 {
                    let response = try await app.event(
                        SlackEvents.mention(
                            eventID: "EvCalm\(index)",
                            user: "U0CALM\(index)",
                            text: "<@U0BOT> how do I rotate keys?"
                        )
                    )
                    #expect(response.status == 200)
                }
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (0..<4).allSatisfy { !slack.directMessages(to: "U0CALM\($0)").isEmpty }
                    }
                )
                #expect(
                    slack.mostInFlight("chat.postMessage") > 1,
                    "after the burst the workers still sent one answer at a time"
                )
            }
        }
    }

    @Test("The count follows handlers in and out, errors included; the first worker may always claim")
    func counting() async throws {
        let load = InboundLoad(pressure: 2)
        #expect(load.mayClaim(worker: 1))
        struct Failure: Error {}
        await #expect(throws: Failure.self) { try await load.handling { throw Failure() } }
        #expect(load.current == 0)
        let inside = await load.handling {
            await load.handling { (load.current, load.mayClaim(worker: 0), load.mayClaim(worker: 3)) }
        }
        #expect(inside.0 == 2 && inside.1 && !inside.2)
        #expect(load.current == 0 && load.mayClaim(worker: 3))
    }
}
